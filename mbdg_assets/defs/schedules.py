"""A nightly re-validation and export, off until a user turns it on in the UI; it runs with the
project configuration as saved at 02:00 (the thresholds and judge `mbdg run` used)."""

import dagster as dg

from mbdg_assets.defs.jobs import DATASET_JOB
from mbdg_assets.defs.run_configs import current_config, dataset_run_config
from resources import ProjectResource


@dg.schedule(name="nightly_dataset", job_name=DATASET_JOB, cron_schedule="0 2 * * *",
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Re-validate every document's candidates with the project's validation settings and "
                         "re-export the signed dataset at 02:00.")
def nightly_dataset_schedule(context: dg.ScheduleEvaluationContext, project: ProjectResource):
    return dg.RunRequest(run_config=dataset_run_config(current_config(project.paths)))
