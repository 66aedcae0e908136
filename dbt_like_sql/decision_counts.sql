-- How many records each decision holds (zero rows for a decision with none).
SELECT decision, count(*) AS records FROM records GROUP BY decision ORDER BY decision;
