"""The sidecar's SSO policy: what `make mutation` left alive in `labctl/sidecar/policy.py` (pure, fake clock)."""

from __future__ import annotations

import dataclasses

from labctl.sidecar import policy as p
from labctl.sidecar.hsrp import fsm
from tests.unit.test_sidecar_policy import MINE, config


def test_hsrp_config_carries_every_setting_of_the_group() -> None:
    cfg = config()
    cfg = dataclasses.replace(cfg, hsrp=dataclasses.replace(cfg.hsrp, auth="s3cret"))
    group = cfg.groups[0]
    assert p.hsrp_config(cfg, group) == fsm.GroupConfig(
        group=1, name="HA-out", virtual_ip=group.virtual_ip, priority=110, preempt=True, preempt_delay_ms=0,
        hello_ms=200, hold_ms=700, auth="s3cret", version=2, track={"inside": 150}, reload_delay_ms=0,
        auth_md5_key=cfg.hsrp.auth_md5_key, minimum_delay_ms=cfg.hsrp.minimum_delay_ms)


def test_every_charon_start_is_a_new_sa_generation() -> None:
    policy = p.SsoPolicy(config())
    policy.forget_sas()
    policy.forget_sas()
    assert policy.sas_generation == 2
    assert policy.on_sas(MINE, 1.0, True, generation=1) == []  # asked of the first restarted charon: stale
    assert policy.sas == []
    assert policy.on_sas(MINE, 1.0, True, generation=2) != [] and len(policy.sas) == 1
