"""The execution engine: local in-process, local processes and a real local Ray instance give
the same outcomes, errors are collected per item, per-worker state is built once per worker;
avsa-index and avsa-prepare give the same index on Ray as locally."""
import math
import operator
import os

import numpy as np
import pytest

import spatialfoa
from avsa_learn.data.index import build_index
from avsa_learn.data.prepare import PrepareOptions, prepare_dataset
from avsa_learn.data.video import write_video
from avsa_learn.engine import Engine, EngineError
from spatialfoa.validation import FOAError

ITEMS = [3, 5, -1, 10]


def _check_outcomes(pairs):
    """math.factorial over ITEMS: every item comes back once, -1 as an EngineError."""
    got = dict(pairs)
    assert sorted(got) == sorted(ITEMS)
    for item, outcome in got.items():
        if item < 0:
            assert isinstance(outcome, EngineError)
            assert str(outcome).startswith("-1: ValueError") and "negative" in str(outcome)
        else:
            assert outcome == math.factorial(item)


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_map_collects_results_and_errors(jobs):
    with Engine("local", jobs=jobs, progress=False) as engine:
        _check_outcomes(engine.map(math.factorial, ITEMS))


def test_local_state_is_built_once_per_worker():
    with Engine("local", jobs=1, progress=False) as engine:
        out = dict(engine.map_stateful(os.getpid, operator.add, [1, 2, 3]))
    assert {out[k] - k for k in out} == {os.getpid()}            # in this process
    with Engine("local", jobs=2, progress=False) as engine:
        out = dict(engine.map_stateful(os.getpid, operator.add, list(range(6))))
    pids = {out[k] - k for k in out}
    assert sorted(out) == list(range(6)) and 1 <= len(pids) <= 2 and os.getpid() not in pids


def test_bad_engine_arguments_are_refused():
    with pytest.raises(FOAError, match="engine must be one of"):
        Engine("slurm")
    with pytest.raises(FOAError, match="jobs must be a positive integer"):
        Engine("local", jobs=0)
    with pytest.raises(FOAError, match="--engine ray"):
        Engine("local", address="auto")


def _media(root, name, seconds, az, seed, fps=10):
    rng = np.random.default_rng(seed)
    x = spatialfoa.encode(0.05 * rng.standard_normal(int(seconds * 24000)), az, 0.1)
    frames = rng.integers(0, 255, (int(seconds * fps), 32, 64, 3), np.uint8)
    write_video(root / f"{name}.mp4", frames, fps, x.astype(np.float32), 24000)


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_tasks_and_actors(ray_instance):
    engine = Engine("ray", progress=False)
    _check_outcomes(engine.map(math.factorial, ITEMS))
    out = dict(engine.map_stateful(os.getpid, operator.add, list(range(8)), workers=2))
    pids = {out[k] - k for k in out}
    assert sorted(out) == list(range(8))
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids       # state built in the actors
    engine.close()
    assert ray_instance.is_initialized()             # an instance it did not start is kept


def test_ray_and_local_give_the_same_index_and_prepared_copy(ray_instance, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _media(src, "one", 2.0, 0.5, seed=0)
    _media(src, "two", 2.0, -1.0, seed=1)
    (src / "bad.mp4").write_bytes(b"not a video")
    kw = dict(clip_seconds=1.0, progress=False)
    local = build_index(src, tmp_path / "local.jsonl", jobs=1, **kw)
    remote = build_index(src, tmp_path / "ray.jsonl", engine=Engine("ray", progress=False), **kw)
    assert local == remote and len(local) == 4
    assert (tmp_path / "local.jsonl").read_text() == (tmp_path / "ray.jsonl").read_text()

    opts = PrepareOptions(width=64)
    a = prepare_dataset(src, tmp_path / "pl", opts, jobs=1, **kw)
    b = prepare_dataset(src, tmp_path / "pr", opts, engine=Engine("ray", progress=False), **kw)
    assert (a.clips, a.prepared_now, [v for v, _ in a.failed]) == (4, 2, ["bad"])
    assert (b.clips, b.prepared_now, [v for v, _ in b.failed]) == (4, 2, ["bad"])
    assert (tmp_path / "pl" / "index.jsonl").read_text() == \
        (tmp_path / "pr" / "index.jsonl").read_text()
    for rel in ("video/one.mp4", "video/two.mp4", "audio/one.flac", "audio/two.flac"):
        assert (tmp_path / "pl" / rel).read_bytes() == (tmp_path / "pr" / rel).read_bytes()


def test_ray_actors_detect_as_the_local_run(ray_instance, tmp_path):
    """avsa-detect with two Ray actors each holding yolov3-tiny writes the local run's cache."""
    from avsa_learn.data.index import ClipRecord, write_index
    from avsa_learn.detect.cli import main
    from test_detect import GRID_ROOM, _grid_room, _yolov3_tiny

    if not GRID_ROOM.exists():
        pytest.skip("real data folder ../shared/data is absent")
    files = _yolov3_tiny()
    import cv2

    room = cv2.resize(_grid_room(), (1024, 512), interpolation=cv2.INTER_AREA)
    records = []
    for k, shift in enumerate((0, 256)):
        video = write_video(tmp_path / f"r{k}.mp4", np.stack([np.roll(room, shift, 1)] * 2), 1)
        records.append(ClipRecord(f"r{k}_0000", f"r{k}", str(video), str(video), 0.0, 2.0,
                                  "train", "ambix", 24000, 1.0, True, -20.0))
    write_index(tmp_path / "index.jsonl", records)
    argv = ["--index", str(tmp_path / "index.jsonl"), "--detector", "darknet", "--cfg",
            str(files[0]), "--weights", str(files[1]), "--names", str(files[2])]
    assert main(argv + ["--out", str(tmp_path / "local.jsonl")]) == 0
    assert main(argv + ["--out", str(tmp_path / "ray.jsonl"), "--engine", "ray",
                        "--workers", "2"]) == 0
    local = sorted((tmp_path / "local.jsonl").read_text().splitlines())
    remote = sorted((tmp_path / "ray.jsonl").read_text().splitlines())
    assert local == remote and len(local) == 4
    assert '"label"' in "".join(local)                         # it found objects
