-- Share of validated records per source document and topic, per decision.
CREATE OR REPLACE VIEW distribution_by_source_topic AS
WITH per_source AS (
    SELECT unnest(paths) AS source_path, topic, decision FROM records
)
SELECT
    source_path,
    topic,
    decision,
    count(*)                                     AS records,
    round(count(*) / sum(count(*)) OVER (), 4)   AS share
FROM per_source
GROUP BY source_path, topic, decision
ORDER BY records DESC, source_path, topic;
