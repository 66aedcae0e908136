-- Records to export for one decision, in a stable order so the same state exports the same bytes.
SELECT
    record_id, schema_name, fields_json, chunk_ids, doc_ids, paths, topic, stage_scores_json,
    score, decision, reasons, supporting_spans_json, generation_json, duplicate_of
FROM records
WHERE decision = $decision
ORDER BY paths[1], record_id;
