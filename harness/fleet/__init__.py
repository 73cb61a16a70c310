"""Fleets on real sockets: ``s1lab fleet serve`` (shards of thousands of CHFs in one process),
the MQTT control plane (docs/mqtt.md) and the shard layout (docs/scale.md)."""
