-- The web page (Fig. 30) and operators look up the changes of one profile or one actor.
CREATE INDEX vpn_audit_target ON vpn_audit (target, id);
CREATE INDEX vpn_audit_actor ON vpn_audit (actor, id);
