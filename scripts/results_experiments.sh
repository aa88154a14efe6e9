#!/usr/bin/env bash
# Reproduces docs/results.md: every AVC/AVSA cell, the untrained floors and the downstream probe.
# 2-core CPU; each training run ~2-4 min with the short schedule below.
# Usage: . .venv/bin/activate && scripts/results_experiments.sh [OUT_DIR]   (default /tmp/results)
# A step whose output exists is skipped, so the script can be re-run after an interruption.
# Every eval.json follows the fixed evaluation protocol (docs/training.md): random crops for all
# models, the quadrants protocol apart, >= 1000 test pairs, floors (untrained, audio-only,
# video-only) and the per-|yaw| full-circle report; the `uneval` steps below add the untrained
# networks' own tables (their floors are in every trained run's eval.json as well).
set -euo pipefail
OUT=${1:-/tmp/results}
mkdir -p "$OUT"
# the cached synthetic data (avsa-train's default set: 200 clips, seed 0; 160 train / 40 test)
IDX=${IDX:-${AVSA_CACHE:-$HOME/.cache/avsa_learn}/synthetic/n200-seed0/index.jsonl}
DATA=$(dirname "$IDX")
# one short schedule for every cell (cpu preset otherwise): 10 AVC + 4 AVSA epochs
# (50 + 120 steps instead of 200 + 600); 1 torch thread (the machine was shared)
SHORT=(--set schedule.avc_epochs=10 --set schedule.avsa_epochs=4 --set runtime.threads=1 --set runtime.progress=false)

train() {  # name, extra avsa-train args...
  local name=$1; shift
  [ -f "$OUT/$name/eval.json" ] || avsa-train --data "$IDX" "${SHORT[@]}" "$@" --out "$OUT/$name" \
      > "$OUT/$name.log" 2>&1
}

cat > "$OUT/make_probe.py" <<'PYEOF'
# Probe set "which sound class is in front": for each TEST-split clip and each of its objects,
# a 1 s FOA excerpt (second [1, 2)) with the sound field yawed so that this object is at azimuth 0
# (the look direction of avsa-probe); label = the object's sound class. The clip's other
# 1-2 sounds stay elsewhere, so the label is only recoverable from the spatial audio.
import csv, json, sys
from pathlib import Path
import numpy as np, soundfile as sf
import spatialfoa

root = Path(sys.argv[1]); out = Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)
T0, T1 = 1.0, 2.0
rows = [json.loads(l) for l in open(root / "index.jsonl")]
lab = []
for r in rows:
    if r["split"] != "test":
        continue
    x, sr, _ = spatialfoa.read_audio(root / r["audio_path"])
    x = x[:4, int(T0 * sr):int(T1 * sr)]                   # ambiX W, Y, Z, X
    gt = json.load(open(root / r["gt_path"]))
    for k, o in enumerate(gt["objects"]):
        t = np.asarray(o["times"]); az = np.asarray(o["azimuth"])
        sel = (t >= T0) & (t < T1)
        phi = float(np.angle(np.exp(1j * az[sel]).mean()))   # mean azimuth over the window
        c, s = np.cos(phi), np.sin(phi)
        W, Y, Z, X = x
        y = np.stack([W, -s * X + c * Y, Z, c * X + s * Y])   # yaw by -phi: object -> front
        name = f"{r['clip_id']}_obj{k}.wav"
        sf.write(out / name, y.T.astype(np.float32), sr, subtype="FLOAT")
        lab.append((name, o["sound"]))
with open(out / "labels.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["file", "label"]); w.writerows(lab)
print(len(lab), "files")
PYEOF
cat > "$OUT/make_untrained.py" <<'PYEOF'
# An untrained checkpoint: the cpu-preset model exactly as avsa-train initialises it
# (torch.manual_seed(runtime.seed) then build_model), saved with its config, so that
# avsa-eval / avsa-probe can measure the floor of a network that never saw data.
import sys
import torch
from avsa_learn.checkpoint import save_checkpoint
from avsa_learn.config import resolve_config
from avsa_learn.models import build_model

out, index, audio_format, feature = sys.argv[1:5]
cfg = resolve_config(preset="cpu", overrides=[f"data.index={index}"],
                     extra={"data": {"audio_format": audio_format, "feature": feature}})
torch.manual_seed(cfg.runtime.seed)
model = build_model(cfg)
save_checkpoint(out, {"config": cfg.to_dict(), "model": model.state_dict()})
print("wrote", out)
PYEOF

untrained() {  # audio_format feature
  local d="$OUT/untrained-$1-$2"
  mkdir -p "$d"
  [ -f "$d/last.pt" ] || python "$OUT/make_untrained.py" "$d/last.pt" "$IDX" "$1" "$2"
}

probe() {  # name (a folder of $OUT holding last.pt)
  [ -f "$OUT/probe_$1.json" ] || avsa-probe "$OUT/$1/last.pt" --data "$OUT/probe_front" \
      --labels "$OUT/probe_front/labels.csv" --folds 5 --seed 0 --no-progress \
      --json "$OUT/probe_$1.json" > "$OUT/probe_$1.txt" 2>&1
}

uneval() {  # audio_format feature crop
  local d="$OUT/untrained-$1-$2"
  [ -f "$d/eval_$3.json" ] || avsa-eval "$d/last.pt" --crop-strategy "$3" --set runtime.threads=1 \
      --no-progress --json "$d/eval_$3.json" > "$d/eval_$3.log" 2>&1
}

# 1. AVC/AVSA: object crops (quadrants, ground-truth detections: the cpu preset default)
train ambi-logmel_object
# 2. downstream probe: AVC-only (same AVC stage, no AVSA) vs AVC->AVSA vs untrained
train avc-only_ambi-logmel_object --set schedule.avsa_epochs=0
[ -f "$OUT/probe_front/labels.csv" ] || python "$OUT/make_probe.py" "$DATA" "$OUT/probe_front"
untrained ambi logmel
probe ambi-logmel_object; probe avc-only_ambi-logmel_object; probe untrained-ambi-logmel
# 1 (cont.). the other formats / crops
train ambi-foa-iv_object   --feature foa-iv
train mono-logmel_object   --audio-format mono
train stereo-logmel_object --audio-format stereo
train ambi-logmel_random   --crop-strategy random
train ambi-foa-iv_random   --crop-strategy random --feature foa-iv
train mono-logmel_random   --crop-strategy random --audio-format mono
train stereo-logmel_random --crop-strategy random --audio-format stereo
# untrained floors (eval only)
uneval ambi logmel quadrants; uneval ambi logmel random
# extras
probe ambi-foa-iv_object
train stereo-icf_object    --audio-format stereo --feature icf

# hand-crafted references for the probe (omni vs front-cardioid log-mel, same folds/classifier)
cat > "$OUT/probe_handcrafted.py" <<'PYEOF'
# Hand-crafted references for the "sound class in front" probe (same files, folds, classifier):
# log-mel (64 bands, time-averaged) of the omni channel W (no direction) and of a front
# cardioid beam 0.5 (W + X) (points at the object).
import csv, json, sys
import numpy as np, soundfile as sf, librosa
from avsa_learn.probe import probe_embeddings
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/labels.csv")))
feats = {"omni W": [], "front cardioid": []}
for r in rows:
    x, sr = sf.read(f"{d}/{r['file']}", dtype="float32"); W, Y, Z, X = x.T
    for k, s in (("omni W", W), ("front cardioid", 0.5 * (W + X))):
        m = librosa.feature.melspectrogram(y=s, sr=sr, n_fft=1024, hop_length=240, n_mels=64)
        feats[k].append(np.log(m + 1e-8).mean(1))
y = np.array([r["label"] for r in rows])
out = {}
for k, X in feats.items():
    p = probe_embeddings(np.array(X), y, folds=5, seed=0)
    out[k] = {"accuracy": p["accuracy"], "ci95": p["ci95"], "pooled_accuracy": p["pooled_accuracy"], "pooled_ci95": p["pooled_ci95"]}
    print(k, out[k])
json.dump(out, open(sys.argv[2], "w"), indent=1)
PYEOF
[ -f "$OUT/probe_handcrafted.json" ] || python "$OUT/probe_handcrafted.py" "$OUT/probe_front" "$OUT/probe_handcrafted.json"

# second seed (model init, data order, augmentation) of the key comparisons
S1=(--set runtime.seed=1)
train ambi-logmel_object_s1            "${S1[@]}"
train avc-only_ambi-logmel_object_s1   "${S1[@]}" --set schedule.avsa_epochs=0
train ambi-foa-iv_object_s1            "${S1[@]}" --feature foa-iv
probe ambi-logmel_object_s1; probe avc-only_ambi-logmel_object_s1

# untrained floors of the other inputs (object crops), seed 1 of mono, FOA-IV probe seed 1
untrained ambi foa-iv;  uneval ambi foa-iv quadrants
untrained mono logmel;  uneval mono logmel quadrants
probe ambi-foa-iv_object_s1
train mono-logmel_object_s1 "${S1[@]}" --audio-format mono
