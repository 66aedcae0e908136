"""A nightly re-validation and export, off until a user turns it on in the UI."""

import dagster as dg

from mbdg_assets.defs.jobs import dataset_job

nightly_dataset_schedule = dg.ScheduleDefinition(
    name="nightly_dataset", job=dataset_job, cron_schedule="0 2 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Re-validate every document's candidates and re-export the signed dataset at 02:00.",
)
