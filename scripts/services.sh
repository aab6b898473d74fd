#!/usr/bin/env bash
# Make sure RabbitMQ (with its management API) and Redis answer on loopback.
# Starts them when they are installed but not running. Exits non-zero, naming the service, when one cannot be
# reached, so a test run never skips its integration tests silently.
set -u

AMQP_PORT=${TCHU_RABBITMQ_PORT:-5672}
MGMT_PORT=${TCHU_RABBITMQ_MANAGEMENT_PORT:-15672}
REDIS_PORT=${TCHU_REDIS_PORT:-6379}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name port seconds
    local i
    for ((i = 0; i < $3 * 4; i++)); do
        port_open "$2" && return 0
        sleep 0.25
    done
    return 1
}

fail() {
    echo "error: $1" >&2
    exit 1
}

if ! port_open "$AMQP_PORT"; then
    if command -v rabbitmq-server >/dev/null 2>&1; then
        echo "starting RabbitMQ (rabbitmq-server -detached)"
        rabbitmq-server -detached >/dev/null 2>&1 || true
        wait_port rabbitmq "$AMQP_PORT" 60 || fail "RabbitMQ did not open 127.0.0.1:$AMQP_PORT within 60 s"
    else
        fail "RabbitMQ is not reachable on 127.0.0.1:$AMQP_PORT and rabbitmq-server is not installed; start one (docker compose up -d rabbitmq) and run again"
    fi
fi

if ! port_open "$MGMT_PORT"; then
    if command -v rabbitmq-plugins >/dev/null 2>&1; then
        echo "enabling the RabbitMQ management plugin (binding checks and test vhosts use its API)"
        rabbitmq-plugins enable --online rabbitmq_management >/dev/null 2>&1 || rabbitmq-plugins enable rabbitmq_management >/dev/null 2>&1 || true
        wait_port management "$MGMT_PORT" 60 || fail "RabbitMQ management API did not open 127.0.0.1:$MGMT_PORT within 60 s"
    else
        fail "RabbitMQ management API is not reachable on 127.0.0.1:$MGMT_PORT; enable the rabbitmq_management plugin"
    fi
fi

if ! port_open "$REDIS_PORT"; then
    if command -v redis-server >/dev/null 2>&1; then
        echo "starting Redis"
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
        wait_port redis "$REDIS_PORT" 30 || fail "Redis did not open 127.0.0.1:$REDIS_PORT within 30 s"
    else
        fail "Redis is not reachable on 127.0.0.1:$REDIS_PORT and redis-server is not installed; start one (docker compose up -d redis) and run again"
    fi
fi
echo "services: RabbitMQ :$AMQP_PORT (management :$MGMT_PORT), Redis :$REDIS_PORT"
