"""Use snn2hw from Python: distill, evaluate, export, simulate and profile, then reload the student.

Run: uv run python examples/python_api.py      (85 s of CPU time; 3 min 20 s wall measured on a
shared, busy 2-core CPU). Rerun it as often as you like: every run gets a new folder
runs/digits-kd-<date>-<time>/.
"""

import torch

import snn2hw

# Any config key as a dotted override (the same keys as `snn2hw distill --set KEY=VALUE`).
cfg = snn2hw.resolve_config(overrides={"teacher.epochs": 5, "train.epochs": 10})
summary = snn2hw.distill(cfg)
run = summary["run_dir"]
print(f"student test accuracy: {summary['student']['test_acc']:.3f} in {run}")

again = snn2hw.evaluate_run(run)
print(f"re-measured after reload: teacher {again['teacher']['test_acc']:.3f}, "
      f"student {again['student']['test_acc']:.3f}")

exported = snn2hw.export(run)  # model.nir, model.net, quantization.json, ... in RUN/export
sim = snn2hw.simulate(exported.out_dir, samples=20)
print(f"bit-exact Loihi emulator: {sim['emulator']['accuracy']:.3f} on {sim['samples']} samples")

report = snn2hw.profile(run, samples=32)
print(f"SynOps per sample: {report['totals']['synops']:.0f}")
print(f"report: {report['report_files']['html']}")

student, spec, _ = snn2hw.load_model(f"{run}/student.pt", "student")
with torch.no_grad():
    logits = student(torch.rand(2, *spec.in_shape))
print("logits for two random images:", tuple(logits.shape))
