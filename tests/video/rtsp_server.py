"""A loopback RTSP test camera: serves a pre-encoded H.264 MP4 file on one or more mounts,
playing it without re-encoding (filesrc ! qtdemux ! h264parse ! rtph264pay, shared factory).

Run with the system Python, which has GStreamer's bindings (``gi``); the project's virtual
environment does not::

    /usr/bin/python3 tests/video/rtsp_server.py CLIP.mp4 --port 0 --mounts 1

It prints ``READY <port>`` on stdout once listening, and serves until SIGTERM or SIGINT.
``--user``/``--password`` require RTSP basic authentication. No jcjg import: it runs outside
the project's environment.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mounts", type=int, default=1)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    # port 0: the server binds a free one itself and says which (a port picked here and bound
    # later could be taken in between by another process, whose answers are no RTSP)
    server.set_service(str(args.port))
    # the clip plays once per connection (make it longer than the recording it feeds)
    launch = (
        f'( filesrc location="{args.clip}" ! qtdemux ! h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    mounts = server.get_mount_points()
    for n in range(args.mounts):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        if args.user:
            auth = GstRtspServer.RTSPAuth()
            token = GstRtspServer.RTSPToken()
            token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
            basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password)
            auth.add_basic(basic, token)
            server.set_auth(auth)
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "user, media.factory.access=(boolean)true, "
                    "media.factory.construct=(boolean)true"
                )
            )
            factory.set_permissions(permissions)
        mounts.add_factory(f"/cam{n}", factory)
    if server.attach(None) == 0:
        print(f"FAILED to listen on 127.0.0.1:{args.port}", flush=True)
        sys.exit(1)
    port = server.get_bound_port()
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY {port}", flush=True)
    loop.run()
    sys.exit(0)


if __name__ == "__main__":
    main()
