-- How many candidates survived each generation step, for the data card's accept rates.
SELECT
    count(*)                               AS candidates,
    count(fields_json)                     AS parsed,
    count(DISTINCT target_id)              AS targets,
    count(*) FILTER (WHERE is_winner)      AS winners
FROM candidates;
