"""`python -m calsync_emulator [--host H] [--port P] [--tls [--tls-dir D]]`: the same as `calsync emulator`."""

from __future__ import annotations

import argparse

from calsync_emulator.server import base_url, run, tls_directory
from calsync_emulator.tls import make_certificates


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m calsync_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--tls", action="store_true", help="serve https with a certificate made at start")
    parser.add_argument("--tls-dir", default=None, help="where to write ca.pem and the server certificate")
    args = parser.parse_args()
    tls = make_certificates(tls_directory(args.tls_dir), [args.host]) if args.tls else None
    print(f"calsync emulator on {base_url(args.host, args.port, bool(tls))}", flush=True)
    if tls is not None:
        print(f"CA certificate (trust it to reach the emulator over https): {tls.ca_path}", flush=True)
    run(args.host, args.port, tls)


if __name__ == "__main__":
    main()
