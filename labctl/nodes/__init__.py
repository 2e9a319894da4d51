"""Every command labctl runs inside a lab container, one module per node kind (after containerlab).

`charon` serves every node that runs strongSwan (gateways, the remote peer, Easy VPN clients), `gateway`
the HSRP/SSO sidecar's view, `client` the Easy VPN clients, `host` the probe agents. Each function takes a
`labctl.runtime.NodeHandle` and returns plain data; nothing here decides anything.
"""
