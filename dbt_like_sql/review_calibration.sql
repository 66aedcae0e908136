-- Each reviewed record's latest review decision beside the validator's score and stage scores:
-- the input of the calibration page (how reviewers agree with the automatic score).
SELECT r.record_id, r.score, r.decision, r.stage_scores_json, v.decision AS review_decision, v.reviewer
FROM records r
JOIN (
    SELECT record_id, decision, reviewer
    FROM review_decisions
    QUALIFY row_number() OVER (PARTITION BY record_id ORDER BY decided_at DESC, rowid DESC) = 1
) v USING (record_id)
ORDER BY r.score, r.record_id;
