-- All K candidates of every target whose winner became a record: the rejected side of preference
-- pairs and each record's selection rationale (winner rank, sibling rewards).
SELECT
    w.candidate_id AS winner_id, c.candidate_id, c.rank, c.reward, c.fields_json, c.error, c.is_winner
FROM candidates w
JOIN candidates c ON c.target_id = w.target_id
WHERE w.candidate_id IN (SELECT candidate_id FROM records)
ORDER BY w.candidate_id, c.rank;
