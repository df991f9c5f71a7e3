# SPDX-License-Identifier: MIT
# The real Kafka cluster of the harness (sourced by tests/harness/start and kafka-cluster):
# Apache Kafka's own broker, fetched by Maven into a cache folder outside the repository and run
# by the JDK in KRaft mode, three nodes on 127.0.0.1 that are each broker and controller (a
# 3-voter quorum), their storage formatted by Kafka's storage tool with one cluster id.
# shellcheck shell=bash

KC_NODES=3
KC_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KC_VERSION=${INBOXQ_TEST_KAFKA_VERSION:-4.4.0}
KC_CACHE=${INBOXQ_KAFKA_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/inboxq}/kafka-$KC_VERSION
KC_PY=/usr/bin/python3

# Ports: broker N listens on INBOXQ_TEST_KAFKA_CLUSTER_PORT + N - 1, its controller 3 higher.
kc_broker_port() { echo $((INBOXQ_TEST_KAFKA_CLUSTER_PORT + $1 - 1)); }
kc_controller_port() { echo $((INBOXQ_TEST_KAFKA_CLUSTER_PORT + KC_NODES + $1 - 1)); }
kc_bootstrap() {
	local n list=
	for ((n = 1; n <= KC_NODES; n++)); do list+=${list:+,}127.0.0.1:$(kc_broker_port "$n"); done
	echo "$list"
}
kc_admin() { "$KC_PY" "$KC_HERE/kafka_admin.py" -b "$(kc_bootstrap)" "$@"; }

# The JRE runs the brokers, librdkafka's Python binding administers them.
kc_need_tools() {
	command -v java >/dev/null || die "kafka-cluster: no java; install openjdk-17-jre-headless (deploy/local/install-deps)"
	"$KC_PY" -c 'import confluent_kafka' 2>/dev/null ||
		die "kafka-cluster: $KC_PY cannot import confluent_kafka; install python3-confluent-kafka (deploy/local/install-deps)"
}

# Fetches Kafka's jars into $KC_CACHE/libs once (Maven keeps its own copy in ~/.m2 too); later
# calls find the folder complete and return at once. Prints the folder.
kc_fetch() {
	local libs=$KC_CACHE/libs log=$KC_CACHE/fetch.log
	if [[ ! -f $KC_CACHE/.complete ]]; then
		command -v mvn >/dev/null || die "kafka-cluster: no mvn to fetch Kafka; install maven (deploy/local/install-deps)"
		mkdir -p "$KC_CACHE"
		(
			# two harnesses starting at once fetch once
			flock 9
			[[ -f $KC_CACHE/.complete ]] && exit 0
			rm -rf "$libs"
			if ! mvn -B -q -f "$KC_HERE/kafka/pom.xml" -Dkafka.version="$KC_VERSION" \
				dependency:copy-dependencies -DincludeScope=runtime \
				-DoutputDirectory="$libs" >"$log" 2>&1; then
				echo "kafka-cluster: Maven could not fetch Kafka $KC_VERSION; last lines of $log:" >&2
				tail -n 25 "$log" >&2
				exit 1
			fi
			[[ -f $libs/kafka_2.13-$KC_VERSION.jar ]] || { echo "kafka-cluster: no broker jar in $libs" >&2; exit 1; }
			touch "$KC_CACHE/.complete"
		) 9>"$KC_CACHE/.lock" || exit 1
	fi
	echo "$KC_CACHE/libs"
}

# Writes the cluster's configuration; the cluster id (and so the formatted storage) stays for the
# life of the state dir, the rest is written anew at each start.
kc_configure() {
	local n voters= cid
	mkdir -p "$KC_DIR"
	for ((n = 1; n <= KC_NODES; n++)); do voters+=${voters:+,}$n@127.0.0.1:$(kc_controller_port "$n"); done
	[[ -s $KC_DIR/cluster.id ]] ||
		"$KC_PY" -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))' \
			>"$KC_DIR/cluster.id"
	cid=$(cat "$KC_DIR/cluster.id")
	# KC_DIR/java CLASS ARGS...: a Kafka main class on the cached jars, with a modest heap
	cat >"$KC_DIR/java" <<-EOF
		#!/bin/sh
		exec java -Xms64m -Xmx${INBOXQ_TEST_KAFKA_HEAP:-384m} -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \\
			-XX:-UsePerfData -Djava.awt.headless=true -Dlog4j2.configurationFile=$KC_DIR/log4j2.properties \\
			-cp '$KC_CACHE/libs/*' "\$@"
	EOF
	chmod 755 "$KC_DIR/java"
	cat >"$KC_DIR/log4j2.properties" <<-'EOF'
		# the broker's log goes to stdout, which the harness writes to DIR/log/kafka-cluster-N.log
		status = warn
		appender.out.type = Console
		appender.out.name = OUT
		appender.out.layout.type = PatternLayout
		appender.out.layout.pattern = [%d] %p %m (%c)%n
		rootLogger.level = INFO
		rootLogger.appenderRef.out.ref = OUT
		logger.request.name = kafka.request.logger
		logger.request.level = WARN
		logger.authorizer.name = kafka.authorizer.logger
		logger.authorizer.level = WARN
	EOF
	for ((n = 1; n <= KC_NODES; n++)); do
		mkdir -p "$KC_DIR/node-$n"
		cat >"$KC_DIR/node-$n/server.properties" <<-EOF
			# Written by tests/harness/kafka-cluster.sh; cluster $cid, node $n of $KC_NODES.
			process.roles=broker,controller
			node.id=$n
			controller.quorum.voters=$voters
			listeners=PLAINTEXT://127.0.0.1:$(kc_broker_port "$n"),CONTROLLER://127.0.0.1:$(kc_controller_port "$n")
			advertised.listeners=PLAINTEXT://127.0.0.1:$(kc_broker_port "$n")
			inter.broker.listener.name=PLAINTEXT
			controller.listener.names=CONTROLLER
			listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
			log.dirs=$KC_DIR/node-$n/data
			# Topics are created explicitly, as production should (the dev broker creates any
			# name a client asks about, typos included).
			auto.create.topics.enable=false
			num.partitions=${INBOXQ_TEST_KAFKA_PARTITIONS:-4}
			default.replication.factor=$KC_NODES
			min.insync.replicas=1
			offsets.topic.replication.factor=$KC_NODES
			offsets.topic.num.partitions=10
			transaction.state.log.replication.factor=$KC_NODES
			transaction.state.log.min.isr=2
			share.coordinator.state.topic.replication.factor=$KC_NODES
			share.coordinator.state.topic.min.isr=2
			# Tests: a group's first member is not held back 3 s waiting for more to join.
			group.initial.rebalance.delay.ms=0
			# A 2-core machine running three of these and the tests.
			num.network.threads=2
			num.io.threads=2
			background.threads=2
			num.replica.fetchers=1
			num.recovery.threads.per.data.dir=1
			log.cleaner.threads=1
			log.cleaner.dedupe.buffer.size=16777216
			log.segment.bytes=16777216
		EOF
		[[ -z ${INBOXQ_TEST_KAFKA_EXTRA_CONFIG:-} ]] ||
			tr ';' '\n' <<<"$INBOXQ_TEST_KAFKA_EXTRA_CONFIG" >>"$KC_DIR/node-$n/server.properties"
	done
}

# Formats the storage of every node not formatted yet (in parallel: a JVM start each).
kc_format() {
	local n pids=() cid
	cid=$(cat "$KC_DIR/cluster.id")
	for ((n = 1; n <= KC_NODES; n++)); do
		[[ -f $KC_DIR/node-$n/data/meta.properties ]] && continue
		("$KC_DIR/java" kafka.tools.StorageTool format -t "$cid" -c "$KC_DIR/node-$n/server.properties" \
			--ignore-formatted >>"$LOG/kafka-cluster-format.log" 2>&1) &
		pids+=($!)
	done
	for n in "${pids[@]+"${pids[@]}"}"; do
		wait "$n" || fail_with_log kafka-cluster-format "Kafka's storage tool failed"
	done
}

# kc_spawn N: starts node N unless it runs; returns without waiting for it.
kc_spawn() {
	local n=$1
	service_pid "kafka-cluster-$n" >/dev/null && return 0
	need_port "kafka-cluster-$n" "$(kc_broker_port "$n")"
	need_port "kafka-cluster-$n" "$(kc_controller_port "$n")"
	spawn "kafka-cluster-$n" "$KC_DIR/java" kafka.Kafka "$KC_DIR/node-$n/server.properties"
}

# kc_wait_live N...: waits until each named node listens, then until the cluster's metadata lists
# every node as a live broker and a controller is elected.
kc_wait_live() {
	local n
	for n; do
		INBOXQ_TEST_START_TIMEOUT=${INBOXQ_TEST_KAFKA_START_TIMEOUT:-120} \
			wait_until "kafka-cluster-$n" tcp_open "$(kc_broker_port "$n")"
	done
	kc_admin ready "$KC_NODES" "${INBOXQ_TEST_KAFKA_START_TIMEOUT:-120}" 2>>"$LOG/kafka-cluster-admin.log" ||
		fail_with_log kafka-cluster-admin "the brokers did not all come up (see $LOG/kafka-cluster-N.log)"
}

# The topic names of the four inboxq topics, as the environment sets them.
kc_default_topics() {
	echo "${INBOXQ_TOPIC_CHECK:-inboxq.jobs.check} ${INBOXQ_TOPIC_REPORT:-inboxq.jobs.report}" \
		"${INBOXQ_TOPIC_NEW_MAIL:-inboxq.events.new-mail} ${INBOXQ_TOPIC_DEAD:-inboxq.jobs.dead}"
}

# kc_topics NAME...: creates topics with replication factor 3 and min.insync.replicas 2 (an
# acknowledged write is on two brokers), INBOXQ_TEST_KAFKA_PARTITIONS partitions (default 4).
kc_topics() {
	kc_admin create --partitions "${INBOXQ_TEST_KAFKA_PARTITIONS:-4}" --replicas "$KC_NODES" \
		--min-insync 2 "$@"
}

start_kafka-cluster() {
	local n started=()
	KC_DIR=$DIR/kafka-cluster
	kc_need_tools
	kc_fetch >/dev/null
	kc_configure
	kc_format
	for ((n = 1; n <= KC_NODES; n++)); do
		service_pid "kafka-cluster-$n" >/dev/null && continue
		kc_spawn "$n"
		started+=("$n")
	done
	kc_wait_live "${started[@]+"${started[@]}"}"
	# shellcheck disable=SC2046 # one name per word
	kc_topics $(kc_default_topics) 2>>"$LOG/kafka-cluster-admin.log" ||
		fail_with_log kafka-cluster-admin "could not create the topics"
	env_part kafka-cluster "$(kv INBOXQ_TEST_KAFKA_CLUSTER_BROKERS "$(kc_bootstrap)")
$(kv INBOXQ_TEST_KAFKA_CLUSTER_PORT "$INBOXQ_TEST_KAFKA_CLUSTER_PORT")"
}
