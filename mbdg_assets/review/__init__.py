"""The review queue (issue 7): a local web page where a person decides REQUIRE_REVIEW records.

`queue.py`, `actions.py` and `calibration.py` are plain logic over the warehouse (no web, no
Dagster), so the Dagster asset check and the CLI can use them; `app.py` is the Starlette page.
Decisions go into the `review_decisions` table owned by `core/reviews.py`, which the export reads.
"""
