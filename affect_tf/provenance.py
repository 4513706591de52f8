"""Where an exported model came from, and its model card (issue 28).

:func:`training_provenance` reads the preprocessing job's ``summary.json`` (and its per-recording
``_stats/``) found above the training and validation records, and records the data sets and
drops, frames, subjects, the held-out figures, the preset and its paper. The export keeps it in
its metadata (``provenance``) and :func:`model_card` renders it as ``MODEL_CARD.md`` beside the
SavedModel. A model whose every drop is the synthetic one is flagged, and ``predict`` and
``serve`` say so once (:data:`SYNTHETIC_ONLY_WARNING`).
"""
from __future__ import annotations

import json
import pathlib

MODEL_CARD_FILE = "MODEL_CARD.md"
SYNTHETIC_ONLY_WARNING = ("note: {model} was trained only on synthetic data (the learnable synthetic "
                          "drop); its numbers on real faces and voices mean nothing yet")


def _summary_dir(record_file) -> pathlib.Path | None:
    """The preprocessing output folder above a record file (the first with a summary.json)."""
    for parent in pathlib.Path(record_file).resolve().parents:
        if (parent / "summary.json").is_file():
            return parent
    return None


def _drop(output_dir: pathlib.Path) -> dict:
    from affect_tf.data.synthetic import is_synthetic_drop

    summary = json.loads((output_dir / "summary.json").read_text())
    subjects = set()
    for stats in sorted((output_dir / "_stats").glob("*.json")):
        record = json.loads(stats.read_text())
        if not record.get("error") and record.get("subject"):
            subjects.add(str(record["subject"]))
    root = summary.get("root", "")
    return {"dataset": summary.get("dataset") or "manifest", "root": root, "records": str(output_dir),
            "synthetic": bool(root) and is_synthetic_drop(root),
            "recordings": int(summary.get("recordings", 0)) - int(summary.get("failed", 0)),
            "frames": int(summary.get("frames", 0)), "subjects": len(subjects) or None,
            "splits": summary.get("splits", {})}


def training_provenance(train_files, val_files=(), train_config=None, metrics=None) -> dict:
    """What the export records: ``drops`` (one per preprocessing output used), ``synthetic_only``,
    ``preset`` and ``paper``, the ``held_out`` metrics (validation when there was any)."""
    used = {}
    for role, paths in (("train", train_files), ("validation", val_files or ())):
        for path in paths:
            found = _summary_dir(path)
            key = str(found) if found else "(no summary.json)"
            entry = used.setdefault(key, {"roles": set(), "files": 0, "dir": found})
            entry["roles"].add(role)
            entry["files"] += 1
    drops = []
    for key, entry in sorted(used.items()):
        drop = _drop(entry["dir"]) if entry["dir"] else {"dataset": "unknown", "records": key,
                                                         "synthetic": False}
        drops.append({**drop, "used_for": sorted(entry["roles"]), "record_files": entry["files"]})
    provenance = {"drops": drops, "synthetic_only": bool(drops) and all(d["synthetic"] for d in drops),
                  "held_out": dict(metrics or {}) if val_files else {},
                  "held_out_note": "" if val_files else "no held-out data: figures are on training data"}
    if train_config is not None:
        from affect_tf import presets

        provenance["preset"] = train_config.preset
        try:
            preset = presets.get_preset(train_config.preset)
            provenance["paper"] = preset.paper
            provenance["description"] = preset.description
        except (KeyError, ValueError):
            provenance["paper"] = ""
    return provenance


def trained_on_synthetic_only(metadata: dict) -> bool:
    return bool((metadata or {}).get("provenance", {}).get("synthetic_only"))


def model_card(metadata: dict) -> str:
    """``MODEL_CARD.md`` text for an export's metadata."""
    prov = metadata.get("provenance") or {}
    lines = [f"# Model card: {prov.get('preset') or metadata.get('preset') or 'affect model'}"
             f" (version {metadata.get('version', '?')})", ""]
    if prov.get("synthetic_only"):
        lines += ["**Trained only on synthetic data.** Its outputs on real faces and voices carry no "
                  "meaning; use it to check that the system runs, not to measure affect.", ""]
    lines += ["Estimates valence and arousal on [-1, 1] per video frame from the inputs "
              f"{', '.join(metadata.get('inputs', [])) or 'of its serving signature'}.", "",
              f"- Preset: `{prov.get('preset', metadata.get('preset', 'unknown'))}`"
              + (f" ({prov['paper']})" if prov.get("paper") else ""),
              f"- Exported: {metadata.get('exported_at', 'unknown')}; face crop {metadata.get('crop_size')} px",
              f"- Median filter (valence, arousal): {metadata.get('median_window', 'none')}", "",
              "## Training data", ""]
    drops = prov.get("drops") or []
    if not drops:
        lines.append("Not recorded (exported from a saved model without its training records).")
    for d in drops:
        kind = "synthetic" if d.get("synthetic") else "real"
        subjects = f", {d['subjects']} subjects" if d.get("subjects") else ""
        lines.append(f"- {d.get('dataset')} ({kind}; {d.get('root') or d.get('records')}): "
                     f"{d.get('recordings', '?')} recordings, {d.get('frames', '?')} frames{subjects}; "
                     f"used for {', '.join(d.get('used_for', []))}")
    lines += ["", "## Held-out figures", ""]
    held = prov.get("held_out") or {}
    if held:
        lines += [f"- {k}: {v:.4f}" if isinstance(v, (int, float)) else f"- {k}: {v}"
                  for k, v in sorted(held.items())]
    else:
        lines.append(prov.get("held_out_note") or "None recorded.")
    lines += ["", "## Limits", "",
              "Frames without a face get no face-based value; a model sees only the data sets "
              "above, and its figures hold for them alone.", ""]
    return "\n".join(lines)
