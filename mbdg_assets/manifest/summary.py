"""`mbdg manifest show`: a signed manifest as a page a person can read in a terminal. It does not
verify anything (that is `mbdg verify`), it only explains what the manifest claims."""

from __future__ import annotations

from collections import Counter


def _kv(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _generation_lines(manifest: dict) -> list[str]:
    parameters = manifest.get("parameters", {})
    generation = parameters.get("generation", [])
    lines = [f"  generation: {_kv(g)}" for g in generation] or ["  generation: (none recorded)"]
    if parameters.get("embedding"):
        lines.append(f"  embedding: {_kv(parameters['embedding'])}")
    if parameters.get("validation"):
        lines.append(f"  validation: {_kv(parameters['validation'])}")
    if parameters.get("export"):
        lines.append(f"  export: {_kv(parameters['export'])}")
    return lines


def _record_lines(manifest: dict) -> list[str]:
    records = manifest.get("records", [])
    decisions = Counter(r.get("decision") for r in records)
    exported = Counter(r.get("export_set") for r in records if r.get("export_set"))
    reviewed = Counter(r["review"]["decision"] for r in records if r.get("review"))
    splits = manifest.get("summary", {}).get("split_sizes", {})
    pairs = manifest.get("summary", {}).get("preference_pairs", {})
    return [f"records: {len(records)}  decisions: {_kv(dict(sorted(decisions.items())))}",
            f"  exported: {_kv(dict(sorted(exported.items())))}  reviewed: {_kv(dict(sorted(reviewed.items()))) or 'none'}",
            f"  splits: {_kv(splits) or 'n/a'}  preference pairs: {_kv(pairs) or 'n/a'}"]


def _file_lines(manifest: dict) -> list[str]:
    files = manifest.get("files", {})
    width = max((len(name) for name in files), default=4)
    lines = [f"files ({len(files)}):"]
    for name, entry in sorted(files.items()):
        records = "" if entry.get("records") is None else f"{entry['records']:>6} records"
        lines.append(f"  {name:<{width}}  {entry.get('bytes', 0):>9} B  {records:>14}  sha256 {entry.get('sha256', '')[:16]}")
    return lines


def render_manifest_summary(manifest: dict) -> str:
    signature = manifest.get("signature", {})
    lineage = manifest.get("lineage", {})
    machine = manifest.get("machine", {})
    lines = [f"manifest v{manifest.get('manifest_version')}  created {manifest.get('created_at')}  "
             f"mbdg {manifest.get('mbdg_version')}",
             f"signature: {signature.get('algorithm')}  key {signature.get('key_id')}  "
             f"{str(signature.get('value', ''))[:16]}...  (check it with: mbdg verify OUT_DIR)",
             f"sources ({len(manifest.get('sources', []))}):"]
    lines += [f"  {s.get('path')}  {s.get('format')}  sha256 {str(s.get('sha256'))[:16]}" for s in manifest.get("sources", [])]
    lines += ["parameters:"] + _generation_lines(manifest) + _record_lines(manifest) + _file_lines(manifest)
    lines.append(f"lineage: Dagster run {lineage.get('run_id')}  job {lineage.get('job_name')}  "
                 f"dagster {lineage.get('dagster_version')}  assets {', '.join(lineage.get('assets', {}))}")
    if machine:
        lines.append(f"machine: {machine.get('platform')}  python {machine.get('python')}  "
                     f"{machine.get('cpu_count')} CPUs  host {machine.get('hostname_sha256')}")
    return "\n".join(lines)
