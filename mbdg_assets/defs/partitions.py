"""One dynamic partition per document; the key is the file's path relative to the docs folder,
so the UI shows names people recognise and a changed file re-materializes the same partition.

The per-document assets take a range of partitions in one run (BackfillPolicy.single_run): a
backfill of 10,000 documents from the UI is one run, as `mbdg run` is, not 10,000 runs of a few
seconds' overhead each, and the generate step can share one request pool across documents."""

import warnings

import dagster as dg

# BackfillPolicy on assets is "beta" in Dagster 1.13; we rely on it knowingly (one warning per
# asset on every import would bury the CLI's output).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

documents_partitions = dg.DynamicPartitionsDefinition(name="documents")

DOCUMENTS_PER_CONNECTION = 64  # documents handled per warehouse connection in a range run


def range_metadata(paths: list[str], failed: dict[str, str]) -> dict:
    """What a range run's materialization says: how many documents, and which failed why."""
    return {"documents": len(paths), "failed": len(failed), "failures": dg.MetadataValue.json(failed)}


def in_groups(paths: list[str], size: int = DOCUMENTS_PER_CONNECTION) -> list[list[str]]:
    """`paths` cut into consecutive groups of at most `size`."""
    return [paths[i:i + size] for i in range(0, len(paths), size)]
