"""One dynamic partition per document; the key is the file's path relative to the docs folder,
so the UI shows names people recognise and a changed file re-materializes the same partition."""

import dagster as dg

documents_partitions = dg.DynamicPartitionsDefinition(name="documents")
