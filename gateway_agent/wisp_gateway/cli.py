"""`wisp-gateway`: run the agent, enroll it, or show what it enforces.

    wisp-gateway [-c CONFIG] run             # the service (enrolls first if it must)
    wisp-gateway [-c CONFIG] enroll TOKEN    # enroll once and exit
    wisp-gateway [-c CONFIG] show            # the saved state, as JSON

The configuration file defaults to $WISP_GATEWAY_CONFIG or /etc/wisp-gateway/config.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from wisp_gateway import __version__
from wisp_gateway.agent import Agent, Fatal
from wisp_gateway.client import CloudError
from wisp_gateway.config import ConfigError, load

DEFAULT_CONFIG = "/etc/wisp-gateway/config.toml"


def _config_path(given: str | None) -> str | None:
    path = given or os.environ.get("WISP_GATEWAY_CONFIG") or DEFAULT_CONFIG
    if given is None and not Path(path).exists():
        return None  # environment variables alone
    return path


async def _run(agent: Agent) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop.set)
    await agent.run()


async def _enroll(agent: Agent, token: str) -> None:
    try:
        credentials = await agent.enroll(token)
    finally:
        await agent.cloud.close()
    print(json.dumps({"gateway_id": credentials.gateway_id}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="wisp-gateway", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", help="TOML configuration file")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the agent (the default)")
    enroll = sub.add_parser("enroll", help="enroll with a one-time token and exit")
    enroll.add_argument("token")
    sub.add_parser("show", help="print the saved state")
    args = parser.parse_args(argv)
    try:
        config = load(_config_path(args.config))
    except (ConfigError, OSError, ValueError) as exc:
        parser.exit(2, f"wisp-gateway: configuration: {exc}\n")
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines would repeat every poll
    agent = Agent(config)
    try:
        if args.command == "enroll":
            asyncio.run(_enroll(agent, args.token))
        elif args.command == "show":
            state = agent.store.state()
            print(
                json.dumps(
                    {
                        "version": state.version,
                        "epoch": state.epoch,
                        "subscribers": len(state.subscribers),
                        "pending_ack": state.pending_ack is not None,
                    }
                )
            )
        else:
            asyncio.run(_run(agent))
    except (Fatal, CloudError) as exc:
        parser.exit(1, f"wisp-gateway: {exc}\n")


if __name__ == "__main__":
    main()
