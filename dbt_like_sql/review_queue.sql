-- REQUIRE_REVIEW records nobody has decided yet (no row in review_decisions): the review queue.
-- Ordering by uncertainty happens in Python (mbdg_assets/review/queue.py), where it is explained.
SELECT
    r.record_id, r.schema_name, r.fields_json, r.paths, r.topic, r.stage_scores_json, r.score,
    r.decision, r.reasons
FROM records r
WHERE r.decision = 'REQUIRE_REVIEW'
  AND NOT EXISTS (SELECT 1 FROM review_decisions d WHERE d.record_id = r.record_id)
ORDER BY r.record_id;
