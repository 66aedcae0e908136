-- Every candidate of one target (the winner and its siblings), by rank, for `mbdg lineage`.
SELECT candidate_id, rank, reward, reward_field, reward_overall, is_winner, error, fields_json, generation_json
FROM candidates
WHERE target_id = $target_id
ORDER BY rank;
