"""Vision evaluation on labelled synthetic data (and MediaPipe speed on real packaged photos); prints JSON and
writes gym/benchmarks/results/vision_eval.json. Run in the vision venv (it needs OpenCV, MediaPipe and torch):

  OMP_NUM_THREADS=1 nice -n 10 gym/.venv-vision/bin/python gym/benchmarks/vision_eval.py [--quick]

1. People counting: synthetic silhouette clips with exact ground truth (scene.py) -> MOG2 + tracker + line/zone
   counter: line-crossing count error, flow error, occupancy error per frame, against the zero-count and
   mean-occupancy baselines; frames/s of detection+tracking. HOG detector speed on the same frames.
2. Posture: kinematic-model sets (kinematics.py) with random faults (25 % per fault per rep) and noise ->
   rep-count accuracy, per-fault precision/recall of the rules and of the fine-tuned classifier (reps matched to
   the true reps by time), against the always-flag baseline (precision = prevalence); exercise recognition;
   misuse precision/recall (rules and classifier) per set.
3. MediaPipe Pose frames/s on scikit-image's astronaut.png and matplotlib's grace_hopper.jpg (video mode).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import machine

from gymchain.vision import analysis, scene
from gymchain.vision import kinematics as K
from gymchain.vision.config import PACKAGED_MODEL
from gymchain.vision.misuse import ALLOWED, EQUIPMENT, MISUSE


def pr(tp: int, fp: int, fn: int) -> dict:
    return {"precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None, "tp": tp, "fp": fp, "fn": fn}


def counting(clips: int, seconds: float, people: int) -> dict:
    per_clip, frames_total, seconds_total, cpu_total = [], 0, 0.0, 0.0
    errs = {"in": [], "out": []}
    flow_err, occ_err, occ_base, zero_base = [], [], [], []
    layout = analysis.CameraLayout(list(scene.ZONES), list(scene.LINES))
    for seed in range(clips):
        clip = scene.render(people=people, seconds=seconds, fps=15, seed=1000 + seed)
        started, cpu = time.perf_counter(), time.process_time()
        result = analysis.count_people(enumerate(clip.frames), clip.fps, layout, sample_every_s=1.0)
        seconds_total += time.perf_counter() - started
        cpu_total += time.process_time() - cpu
        frames_total += len(clip.frames)
        true = clip.truth.line_counts()["passage"]
        got = result["lines"]["passage"]
        for d in ("in", "out"):
            errs[d].append(got[d] - true[d])
            zero_base.append(true[d])
        true_flows = dict(clip.truth.flows)
        got_flows = {(f["from_area_id"], f["to_area_id"]): f["people"] for f in result["flows"]}
        flow_err += [abs(got_flows.get(k, 0) - true_flows.get(k, 0)) for k in ((1, 2), (2, 1))]
        true_occ = clip.occupancy()
        pred_occ = np.array([[s["areas"][str(z.area_id)] for z in scene.ZONES] for s in result["occupancy"]])
        sampled = true_occ[:: int(clip.fps)][: len(pred_occ)]
        occ_err.append(float(np.abs(pred_occ - sampled).mean()))
        occ_base.append(float(np.abs(sampled - sampled.mean(axis=0)).mean()))
        per_clip.append({"seed": 1000 + seed, "true": true, "counted": got, "true_flows": {
            f"{a}->{b}": n for (a, b), n in true_flows.items()}, "counted_flows": {
            f"{a}->{b}": n for (a, b), n in got_flows.items()}, "occupancy_mae": round(occ_err[-1], 3)})
    all_errs = np.array(errs["in"] + errs["out"])
    hog = None
    try:
        from gymchain.vision.detection import make_detector

        det = make_detector("hog")
        frames = clip.frames[:30]
        started, cpu = time.perf_counter(), time.process_time()
        found = sum(len(det.detect(f)) for f in frames)
        hog = {"frames": len(frames), "fps_wall": round(len(frames) / (time.perf_counter() - started), 1),
               "frames_per_cpu_second": round(len(frames) / (time.process_time() - cpu), 1),
               "boxes_on_silhouettes": int(found),
               "note": "HOG is trained on real pedestrians; on drawn silhouettes it finds (almost) nothing"}
    except Exception as exc:  # noqa: BLE001 - report, do not hide
        hog = {"error": str(exc)}
    return {
        "clips": clips, "seconds_each": seconds, "people_each": people, "frames": frames_total,
        "line_count_mae": round(float(np.abs(all_errs).mean()), 3),
        "line_count_bias": round(float(all_errs.mean()), 3),
        "line_counts_exact_share": round(float((all_errs == 0).mean()), 3), "line_count_samples": len(all_errs),
        "baseline_zero_count_mae": round(float(np.mean(zero_base)), 3),
        "mean_true_crossings_per_direction": round(float(np.mean(zero_base)), 3),
        "flow_mae": round(float(np.mean(flow_err)), 3), "flow_samples": len(flow_err),
        "occupancy_mae_per_area_second": round(float(np.mean(occ_err)), 3),
        "baseline_mean_occupancy_mae": round(float(np.mean(occ_base)), 3),
        "fps_detect_track_count_wall": round(frames_total / seconds_total, 1),
        "frames_per_cpu_second_detect_track_count": round(frames_total / cpu_total, 1),
        "frame_size": [scene.WIDTH, scene.HEIGHT],
        "hog": hog, "per_clip": per_clip,
    }


def posture(sets_per_exercise: int, model) -> dict:
    rng = np.random.default_rng(2026)
    rule = {ex: {e: Counter() for e in K.APPLICABLE[ex]} for ex in K.EXERCISES}
    learned = {ex: {e: Counter() for e in K.APPLICABLE[ex]} for ex in K.EXERCISES}
    counts = {ex: {"sets": 0, "exact": 0, "abs_error": 0, "true_reps": 0} for ex in K.EXERCISES}
    exercise_hits, exercise_n = 0, 0
    misuse_rule = {m: Counter() for m in MISUSE}
    misuse_model = {m: Counter() for m in MISUSE}
    started, cpu = time.perf_counter(), time.process_time()
    frames = 0
    analysed_cpu = 0.0
    for ex in K.EXERCISES:
        for _ in range(sets_per_exercise):
            drop = ex == "press" and rng.random() < 0.3
            seq = K.generate(ex, reps=int(rng.integers(2, 8)), rng=rng, drop_at_end=drop)
            fitting = [e for e in EQUIPMENT if ex in ALLOWED[e]]
            wrong = [e for e in EQUIPMENT if ex not in ALLOWED[e]]
            equipment = str(rng.choice(wrong if rng.random() < 0.3 else fitting))
            frames += len(seq.landmarks)
            result = analysis.analyse_posture(seq.landmarks, seq.fps, equipment=equipment, exercise=None,
                                              model=model)
            if model is not None:
                exercise_n += 1
                exercise_hits += result["exercise"] == ex
            # the rules are scored with the true exercise (recognition is scored separately above)
            one = time.process_time()
            given = analysis.analyse_posture(seq.landmarks, seq.fps, equipment=equipment, exercise=ex, model=model)
            analysed_cpu += time.process_time() - one
            got = given["reps"]
            c = counts[ex]
            c["sets"] += 1
            c["exact"] += len(got) == len(seq.reps)
            c["abs_error"] += abs(len(got) - len(seq.reps))
            c["true_reps"] += len(seq.reps)
            for rep in seq.reps:
                t_far = rep.far / seq.fps
                match = next((g for g in got if g["start_s"] - 0.2 <= t_far <= g["end_s"] + 0.2), None)
                for e in K.APPLICABLE[ex]:
                    truth = e in rep.errors
                    for table, found in ((rule, match and e in match["errors"]),
                                         (learned, match and match.get("model_faults") is not None
                                          and e in match["model_faults"])):
                        if table is learned and model is None:
                            continue
                        key = "tp" if truth and found else "fp" if found else "fn" if truth else "tn"
                        table[ex][e][key] += 1
            truth_misuse = {"unsafe_lift": any("back" in r.errors for r in seq.reps) and ex in ("squat", "deadlift"),
                            "wrong_machine": ex not in ALLOWED[equipment], "drop": drop}
            for table, source in ((misuse_rule, "rule"), (misuse_model, "model")):
                fired = {a["rule"] for a in given["alerts"] if a["source"] == source}
                for m in MISUSE:
                    t, f = truth_misuse[m], m in fired
                    table[m]["tp" if t and f else "fp" if f else "fn" if t else "tn"] += 1
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu

    def table_out(table):
        out = {}
        for ex, per in table.items():
            out[ex] = {}
            for e, c in per.items():
                n = sum(c.values())
                out[ex][e] = pr(c["tp"], c["fp"], c["fn"]) | {"reps": n, "prevalence": round((c["tp"] + c["fn"]) / n, 3)
                                                             if n else None}
        return out

    return {
        "sets_per_exercise": sets_per_exercise, "frames": frames,
        "rep_count": {ex: {"sets": c["sets"], "true_reps": c["true_reps"],
                           "exact_share": round(c["exact"] / c["sets"], 3),
                           "mae_reps_per_set": round(c["abs_error"] / c["sets"], 3)} for ex, c in counts.items()},
        "faults_rules": table_out(rule), "faults_model": table_out(learned) if model is not None else None,
        "exercise_recognition_accuracy": round(exercise_hits / exercise_n, 3) if exercise_n else None,
        "exercise_recognition_sets": exercise_n,
        "misuse_rules": {m: pr(c["tp"], c["fp"], c["fn"]) | {"sets": sum(c.values())} for m, c in misuse_rule.items()},
        "misuse_model": ({m: pr(c["tp"], c["fp"], c["fn"]) | {"sets": sum(c.values())}
                          for m, c in misuse_model.items()} if model is not None else None),
        "analysis_frames_per_cpu_second": round(frames / analysed_cpu, 1),
        "wall_seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "note": "each set analysed twice (recognised exercise, then the true one); landmarks come from the "
                "kinematic model, not from MediaPipe on video",
    }


def astronaut_png() -> Path | None:
    """scikit-image's astronaut.png: scikit-image lives in gym/.venv (it needs numpy 2), not in this venv."""
    found = sorted((HERE.parent / ".venv" / "lib").glob("python3*/site-packages/skimage/data/astronaut.png"))
    return found[0] if found else None


def mediapipe_speed(frames: int) -> dict:
    import cv2
    import matplotlib

    from gymchain.vision.pose import MediaPipePose

    out = {}
    for path in (astronaut_png(), Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"):
        if path is None or not Path(path).is_file():
            out[str(path)] = "missing"
            continue
        image = cv2.imread(str(path))
        pose = MediaPipePose(video=True)
        pose.landmarks(image)  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        found = sum(pose.landmarks(image) is not None for _ in range(frames))
        out[Path(path).name] = {"size": [image.shape[1], image.shape[0]], "frames": frames, "found": found,
                                "fps_wall": round(frames / (time.perf_counter() - started), 1),
                                "frames_per_cpu_second": round(frames / (time.process_time() - cpu), 1)}
        pose.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--clips", type=int, default=8, help="counting clips of 20 s (default 8)")
    parser.add_argument("--sets", type=int, default=25, help="posture sets per exercise (default 25)")
    parser.add_argument("--mp-frames", type=int, default=30, help="MediaPipe frames per photo (default 30)")
    parser.add_argument("--only", choices=("counting", "posture", "mediapipe"), action="append",
                        help="run only these sections (repeatable; default all); the JSON then holds only them")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "vision_eval.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from gymchain.vision.model import load

    model = load(PACKAGED_MODEL) if (PACKAGED_MODEL / "model.safetensors").is_file() else None
    clips, sets, mp_frames = (2, 4, 10) if args.quick else (args.clips, args.sets, args.mp_frames)
    if not (1 <= clips <= 200 and 1 <= sets <= 1000 and 1 <= mp_frames <= 1000):
        parser.error("--clips 1-200, --sets 1-1000, --mp-frames 1-1000")
    started = time.perf_counter()
    only = set(args.only or ("counting", "posture", "mediapipe"))
    result = {"machine": machine() | {"load_1min_at_start": round(os.getloadavg()[0], 2)},
              "command": "OMP_NUM_THREADS=1 nice -n 10 gym/.venv-vision/bin/python gym/benchmarks/vision_eval.py"
                         + (" --quick" if args.quick else f" --clips {clips} --sets {sets} --mp-frames {mp_frames}")
                         + "".join(f" --only {o}" for o in args.only or ())}
    if "counting" in only:
        print("counting ...", file=sys.stderr)
        result["counting"] = counting(clips, 20.0, 8)
    if "posture" in only:
        print("posture ...", file=sys.stderr)
        result["posture"] = posture(sets, model)
    if "mediapipe" in only:
        print("mediapipe ...", file=sys.stderr)
        result["mediapipe_pose"] = mediapipe_speed(mp_frames)
    if model is not None:
        result["classifier_training"] = json.loads((PACKAGED_MODEL / "config.json").read_text())["metrics"]
    result["machine"]["load_1min_at_end"] = round(os.getloadavg()[0], 2)
    result["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, indent=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
