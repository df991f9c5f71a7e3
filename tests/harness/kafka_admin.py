#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Admin requests to the harness's real Kafka cluster (tests/harness/kafka-cluster), through
librdkafka (python3-confluent-kafka), so no JVM starts for each of them.

  kafka_admin.py -b BROKERS ready N [TIMEOUT_S]
      waits until the metadata lists N live brokers and a controller answers
  kafka_admin.py -b BROKERS create [--partitions N] [--replicas N] [--min-insync N]
                                   [--config K=V]... TOPIC...
      creates the topics that do not exist yet, then waits until every partition has a
      leader and its full replica set in sync; an existing topic is left as it is
  kafka_admin.py -b BROKERS leader TOPIC PARTITION
      prints the node id leading the partition (-1: none)
  kafka_admin.py -b BROKERS coordinator GROUP
      prints the node id coordinating the consumer group (-1: none known)
  kafka_admin.py -b BROKERS in-sync [TIMEOUT_S] TOPIC...
      waits until every partition of the topics has a leader and all its replicas in sync
  kafka_admin.py -b BROKERS describe TOPIC...
      one line per partition: topic, partition, leader, replicas, isr
Exit status: 0 done, 1 a request failed or the wait timed out (the reason on stderr).
"""
import argparse
import sys
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def client(brokers):
    # a short socket timeout: brokers killed by a test must not hold a request for long
    return AdminClient({"bootstrap.servers": brokers, "socket.timeout.ms": 5000,
                        "log.connection.close": False, "logger": _Quiet()})


class _Quiet:
    """librdkafka's log lines about brokers that are down are expected here: drop them."""

    def log(self, *args, **kwargs):
        pass


def metadata(admin, topic=None):
    return admin.list_topics(topic=topic, timeout=5)


def wait_for(what, timeout, probe):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            ok, last = probe()
            if ok:
                return
        except KafkaException as e:
            last = str(e)
        if time.monotonic() >= deadline:
            sys.exit(f"kafka_admin: {what} not within {timeout:g} s ({last})")
        time.sleep(0.2)


def partitions_in_sync(admin, topics):
    md = metadata(admin)
    for name in topics:
        t = md.topics.get(name)
        if t is None or t.error is not None or not t.partitions:
            return False, f"topic {name}: {t.error if t else 'missing'}"
        for p in t.partitions.values():
            if p.leader < 0 or sorted(p.isrs) != sorted(p.replicas):
                return False, f"{name}[{p.id}] leader {p.leader} replicas {p.replicas} isr {p.isrs}"
    return True, None


def cmd_ready(admin, a):
    def probe():
        md = metadata(admin)
        # the controller id is only known once the KRaft quorum elected a leader
        return len(md.brokers) >= a.count and md.controller_id >= 0, \
            f"{len(md.brokers)} broker(s) live, controller {md.controller_id}"
    wait_for(f"{a.count} live broker(s)", a.timeout, probe)


def cmd_create(admin, a):
    existing = set(metadata(admin).topics)
    config = dict(kv.split("=", 1) for kv in a.config)
    if a.min_insync:
        config["min.insync.replicas"] = str(a.min_insync)
    new = [NewTopic(t, num_partitions=a.partitions, replication_factor=a.replicas, config=config)
           for t in a.topics if t not in existing]
    if new:
        for name, fut in admin.create_topics(new, request_timeout=30).items():
            try:
                fut.result()
            except KafkaException as e:
                if e.args[0].name() != "TOPIC_ALREADY_EXISTS":  # created by another caller
                    sys.exit(f"kafka_admin: cannot create topic {name}: {e}")
    wait_for("topics " + " ".join(a.topics) + " in sync", a.timeout,
             lambda: partitions_in_sync(admin, a.topics))


def cmd_leader(admin, a):
    t = metadata(admin, a.topic).topics.get(a.topic)
    p = t.partitions.get(a.partition) if t and t.error is None else None
    if p is None:
        sys.exit(f"kafka_admin: no partition {a.topic}[{a.partition}]")
    print(p.leader)


def cmd_coordinator(admin, a):
    groups = admin.list_groups(group=a.group, timeout=10)
    print(groups[0].broker.id if groups and groups[0].broker is not None else -1)


def cmd_in_sync(admin, a):
    wait_for("topics " + " ".join(a.topics) + " in sync", a.timeout,
             lambda: partitions_in_sync(admin, a.topics))


def cmd_describe(admin, a):
    md = metadata(admin)
    for name in a.topics:
        t = md.topics.get(name)
        if t is None or t.error is not None:
            print(f"{name} error {t.error if t else 'missing'}")
            continue
        for p in sorted(t.partitions.values(), key=lambda p: p.id):
            print(f"{name} {p.id} leader={p.leader} replicas={','.join(map(str, p.replicas))}"
                  f" isr={','.join(map(str, p.isrs))}")


def main():
    ap = argparse.ArgumentParser(prog="kafka_admin.py")
    ap.add_argument("-b", "--brokers", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ready")
    s.add_argument("count", type=int)
    s.add_argument("timeout", type=float, nargs="?", default=60)
    s = sub.add_parser("create")
    s.add_argument("--partitions", type=int, default=4)
    s.add_argument("--replicas", type=int, default=3)
    s.add_argument("--min-insync", type=int, default=0)
    s.add_argument("--config", action="append", default=[])
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("topics", nargs="+")
    s = sub.add_parser("leader")
    s.add_argument("topic")
    s.add_argument("partition", type=int)
    s = sub.add_parser("coordinator")
    s.add_argument("group")
    s = sub.add_parser("in-sync")
    s.add_argument("timeout", type=float)
    s.add_argument("topics", nargs="+")
    s = sub.add_parser("describe")
    s.add_argument("topics", nargs="+")
    a = ap.parse_args()
    admin = client(a.brokers)
    {"ready": cmd_ready, "create": cmd_create, "leader": cmd_leader, "in-sync": cmd_in_sync,
     "coordinator": cmd_coordinator, "describe": cmd_describe}[a.cmd](admin, a)


if __name__ == "__main__":
    main()
