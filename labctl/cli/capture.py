"""`labctl capture LAB LINK -w FILE.pcap`: packets on a lab network's bridge, readable in Wireshark/tshark."""

from __future__ import annotations

from pathlib import Path

import click

from labctl.cli.base import clean_errors, err_console, main


@main.command()
@click.argument("lab_or_topology")
@click.argument("link")
@click.option("-w", "--write", "out_file", type=click.Path(dir_okay=False), required=True,
              help="pcap file to write.")
@click.option("--duration", default=10.0, show_default=True, help="Seconds to capture.")
@click.option("--filter", "packet_filter", default="", help="tcpdump filter, e.g. 'udp port 1985 or esp'.")
@clean_errors
def capture(lab_or_topology: str, link: str, out_file: str, duration: float, packet_filter: str) -> None:
    """Capture on LINK (outside, inside, sync, or any network name of the lab) for --duration seconds."""
    from labctl.errors import LabctlError
    from labctl.experiment.faults import link_network
    from labctl.lab import connect, open_running

    lab = open_running(lab_or_topology)
    network = link_network(lab.topo, link)
    if duration <= 0:
        raise LabctlError("--duration must be positive")
    err_console.print(f"capturing on {network} of lab {lab.name} for {duration:g}s …")
    data = connect().capture(lab.name, network, duration, packet_filter)
    Path(out_file).write_bytes(data)
    err_console.print(f"wrote {out_file} ({len(data)} bytes): `tshark -r {out_file}` or Wireshark")
