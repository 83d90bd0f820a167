"""Delivery, wiring only: making digests (digests), queueing alerts, spike
alerts and feed notices (alerts), and sending what the outbox holds
(outbox). What a message says is decided in monitor.digest and
monitor.compose; how it goes out, in monitor.channels."""
