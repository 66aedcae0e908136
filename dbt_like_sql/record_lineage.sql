-- One record traced back: its winning candidate, the chunk it was generated from (pages, character
-- span in the extracted document) and the document. $record_id may be a unique prefix.
SELECT
    r.record_id, r.candidate_id, r.fields_json, r.stage_scores_json, r.score, r.decision, r.reasons,
    r.supporting_spans_json, r.generation_json, r.topic,
    w.target_id, w.chunk_id,
    k.position, k.heading_path, k.pages, k.start_char, k.end_char, k.text AS chunk_text,
    d.path, d.doc_id, d.format, d.title
FROM records r
LEFT JOIN candidates w USING (candidate_id)
LEFT JOIN chunks k ON k.chunk_id = w.chunk_id
LEFT JOIN documents d ON d.path = k.path
WHERE r.record_id LIKE $record_id || '%'
ORDER BY r.record_id
LIMIT 2;
