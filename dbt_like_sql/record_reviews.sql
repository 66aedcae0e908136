-- One record's review history, oldest first (the export applies the last).
SELECT decision, reviewer, reason, edited_fields_json, decided_at
FROM review_decisions
WHERE record_id = $record_id
ORDER BY decided_at, rowid;
