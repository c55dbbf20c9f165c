"""Benchmark of recording: how many 1080p cameras one CPU core records with the platform's
recorder (copy without re-encoding, each segment hashed, moved, entered in its camera's hash
chain, the chains notarised), against bare ``ffmpeg -c copy`` processes writing the same
segments from the same sources, measured in the same run.

One gst-rtsp-server process (tests/video/rtsp_server.py, the system Python) serves a
pre-encoded 1080p H.264 clip (~3 Mbps, burnt-in clock, cached under ``--cache``) on one shared
mount; ``--cameras`` clients record it for ``--seconds``:

(a) bare: one ``ffmpeg -c copy -f segment`` per camera (the recorder's own command line);
(b) ours: :class:`jcjg.video.recorder.Recorder` in this process (on a fresh SQLite database)
    supervising one ffmpeg per camera, then the ``video.notarise`` job.

CPU time is what the recording processes used (this process's own time during (b), plus its
ffmpeg children's, reaped); cameras per core = wall seconds recorded × cameras ÷ CPU seconds.

    BENCH video_cameras_per_core <n> cameras ratio=<ours ÷ bare ffmpeg> baseline=ffmpeg_copy

Goals: >= 50 cameras per core, ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from tests.video.rtsp import RtspCamera, make_clip  # noqa: E402

from jcjg.config import Settings, settings_in_use  # noqa: E402
from jcjg.core.db import make_engine, make_sessionmaker  # noqa: E402
from jcjg.ledger import service  # noqa: E402
from jcjg.main import configure_domains  # noqa: E402
from jcjg.refdata import upgrade  # noqa: E402
from jcjg.tenancy.models import Institution  # noqa: E402
from jcjg.video import capture, jobs  # noqa: E402
from jcjg.video.models import Camera, Segment  # noqa: E402
from jcjg.video.recorder import Recorder  # noqa: E402

SEGMENT_SECONDS = 4


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare(cam: RtspCamera, cameras: int, seconds: float, workdir: Path) -> tuple[float, int]:
    """CPU seconds of ``cameras`` bare ffmpeg copies over ``seconds``; segments written."""
    before = children_cpu()
    url = cam.url()

    def start(n: int) -> subprocess.Popen[bytes]:
        out = workdir / f"bare{n}"
        out.mkdir(parents=True, exist_ok=True)
        with (workdir / f"bare{n}.log").open("ab") as log:
            return subprocess.Popen(  # noqa: S603 (ffmpeg, our arguments)
                capture.command("ffmpeg", url, out, SEGMENT_SECONDS),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    procs = [start(n) for n in range(cameras)]
    # each ffmpeg first connects and probes the stream; stopped before it writes a segment (a
    # busy machine can take seconds), it records nothing: the time measured runs from the
    # start, as the recorder's does, and lasts until every one has written one at least. One
    # that gave up while probing (no key frame yet on a busy machine: "unspecified size") is
    # started again, as the recorder would start it again (its CPU counts)
    spawned = time.monotonic()
    deadline = spawned + 60
    restarted = False
    while not all(any((workdir / f"bare{n}").glob("*.ts")) for n in range(cameras)):
        if time.monotonic() > deadline:
            break  # reported below, with ffmpeg's own words
        if (
            not restarted
            and time.monotonic() > spawned + 20
            and not any(any((workdir / f"bare{n}").glob("*.ts")) for n in range(cameras))
        ):
            # 20 s and no camera recorded anything: the test camera's shared stream can be left
            # refusing every client (once seen: each ffmpeg read "Invalid data found when
            # processing input" for the whole minute), as a real camera is power-cycled: once
            cam.stop()
            cam.start()
            restarted = True
        for n, proc in enumerate(procs):
            if proc.poll() is not None and not any((workdir / f"bare{n}").glob("*.ts")):
                procs[n] = start(n)
        time.sleep(0.1)
    time.sleep(max(0.0, spawned + seconds - time.monotonic()))  # the rest of the time measured
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        proc.wait(15)
    lists = [workdir / f"bare{n}" / capture.LIST_NAME for n in range(cameras)]
    failed = [n for n, path in enumerate(lists) if not path.exists()]
    if failed:
        tail = (workdir / f"bare{failed[0]}.log").read_text(errors="replace")[-500:]
        raise SystemExit(f"bare ffmpeg recorded nothing for cameras {failed}: {tail}")
    written = sum(len(path.read_text().splitlines()) for path in lists)
    return children_cpu() - before, written


def ours(url: str, cameras: int, seconds: float, workdir: Path) -> tuple[float, float, int]:
    """CPU seconds of the recorder (this process, notarising included) and of its ffmpeg
    children; segments entered."""
    settings = Settings(
        env="test",
        secret_key="b" * 32,
        data_dir=workdir / "data",
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        video_segment_seconds=SEGMENT_SECONDS,
        video_recorder_capacity=cameras,
        video_allowed_networks="127.0.0.1/32",  # the bench's RTSP sources serve on the loopback
    )
    workdir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    configure_domains(settings)
    service.configure(settings)
    factory = make_sessionmaker(make_engine(settings.database_url))
    with factory() as db:
        institution = Institution(code="BENCH-1", name="基准测试检测机构", region_code="360403")
        db.add(institution)
        db.flush()
        for n in range(cameras):
            db.add(
                Camera(
                    institution_id=institution.id,
                    region_code="360403",
                    code=f"C{n:03d}",
                    name=f"摄像机{n}",
                    place_kind="mechanical",
                    stream_url=url,
                )
            )
        db.commit()
    recorder = Recorder(settings, factory, holder="bench")
    stop = threading.Event()
    cpu0, kids0 = time.process_time(), children_cpu()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    recorder.run(stop, 0.5)
    with factory() as db, settings_in_use(settings):
        jobs.notarise(db, logging.getLogger("bench.video"))
        entered = db.scalar(select(func.count()).select_from(Segment)) or 0
    own, kids = time.process_time() - cpu0, children_cpu() - kids0
    factory.kw["bind"].dispose()
    return own, kids, int(entered)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--short", action="store_true", help="3 cameras, 8 s, 320x180")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-video")
    args = parser.parse_args(argv)
    if args.short:
        args.cameras, args.seconds = 3, 8.0
    size = "320x180" if args.short else "1920x1080"
    args.cache.mkdir(parents=True, exist_ok=True)
    length = int(args.seconds * 2 + 30)
    clip = make_clip(
        args.cache / f"clip-{size}-{length}s.mp4",
        seconds=length,
        size=size,
        bitrate="300k" if args.short else "3M",
    )
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-video-") as tmp, RtspCamera(clip) as cam:
        work = Path(tmp)
        bare_cpu, bare_segments = bare(cam, args.cameras, args.seconds, work / "bare")
        own_cpu, kids_cpu, our_segments = ours(cam.url(), args.cameras, args.seconds, work / "ours")
        shutil.rmtree(work, ignore_errors=True)
    our_cpu = own_cpu + kids_cpu
    per_core = args.seconds * args.cameras / our_cpu
    ratio = bare_cpu / our_cpu
    lines = [
        f"# {args.cameras} cameras {size} for {args.seconds:.0f} s: bare ffmpeg {bare_cpu:.2f} "
        f"CPU s ({bare_segments} segments), ours {our_cpu:.2f} CPU s = recorder {own_cpu:.2f} + "
        f"ffmpeg {kids_cpu:.2f} ({our_segments} segments)",
        f"BENCH video_cameras_per_core {per_core:.1f} cameras ratio={ratio:.3f} "
        "baseline=ffmpeg_copy",
    ]
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
