"""Every Docker label labctl sets, defined once: cleanup finds objects by these, never by name."""

PREFIX = "labctl"
LAB = f"{PREFIX}.lab"  # lab name: every object of a lab carries it
NODE = f"{PREFIX}.node"  # node name inside the lab (containers)
ROLE = f"{PREFIX}.role"  # ha-gateway | peer | host | router | client | vpnc | radius
NETWORK = f"{PREFIX}.network"  # lab network name (networks)
TOPOLOGY = f"{PREFIX}.topology"  # absolute path of the topology file the lab came from
SABOTAGE = f"{PREFIX}.sabotage"  # known-bad variant the lab was started with, if any
OVERRIDES = f"{PREFIX}.overrides"  # JSON of `up` overrides (redundancy mode, HSRP timers)
# the effective topology (file + defaults + overrides, as JSON) the lab was started with: later verbs judge
# the lab by it, never by the file on disk, which may have been edited or moved since
EFFECTIVE_TOPOLOGY = f"{PREFIX}.effective-topology"
# the lab's random SSO key (`sync_key: auto`): a node re-created by a later `up` must get the same one
SSO_KEY = f"{PREFIX}.sso-key"
IMAGE_HASH = f"{PREFIX}.image-hash"  # content hash of an image's inputs (images)
IMAGE_KIND = f"{PREFIX}.image"  # node | host | base (images)


def lab_filter(lab: str | None = None) -> dict[str, list[str]]:
    """Docker API filter selecting every object of one lab (or of all labs)."""
    return {"label": [f"{LAB}={lab}" if lab else LAB]}
HELPER = f"{PREFIX}.helper"  # short-lived helper containers on the engine host: firewall | hostinfo
