-- Every validated record with its latest review decision and the export set it belongs in:
-- a reviewer's approve or edit puts a record in the dataset, a reject takes it out, otherwise the
-- validator's decision stands. Stable order, so the same state exports the same bytes.
WITH latest_review AS (
    SELECT record_id, decision AS review_decision, reviewer, reason AS review_reason,
           edited_fields_json, decided_at
    FROM review_decisions
    QUALIFY row_number() OVER (PARTITION BY record_id ORDER BY decided_at DESC, rowid DESC) = 1
)
SELECT
    r.record_id, r.candidate_id, r.schema_name, r.fields_json, r.chunk_ids, r.doc_ids, r.paths, r.topic,
    r.stage_scores_json, r.score, r.decision, r.reasons, r.supporting_spans_json, r.generation_json,
    r.duplicate_of,
    v.review_decision, v.reviewer, v.review_reason, v.edited_fields_json, v.decided_at,
    CASE
        WHEN v.review_decision IN ('approve', 'edit') THEN 'dataset'
        WHEN v.review_decision = 'reject'             THEN 'rejected'
        WHEN r.decision = 'AUTO_APPROVE'              THEN 'dataset'
        WHEN r.decision = 'REQUIRE_REVIEW'            THEN 'review'
        ELSE 'rejected'
    END AS export_set
FROM records r
LEFT JOIN latest_review v USING (record_id)
ORDER BY r.paths[1], r.record_id;
