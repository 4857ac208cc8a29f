#!/bin/sh
# Creates certflow's namespace and registers the search attributes its
# workflows set (SEARCH_ATTRIBUTES: "Name=Type ..."; the compose file's
# value is checked against workflows.SearchAttributeTypes by deploy's
# test). Retries until every step succeeded, then verifies the result, so
# it never exits 0 with an attribute missing. Runs in temporalio/admin-tools.
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
: "${NAMESPACE:?NAMESPACE is required}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES is required}"
ATTEMPTS=${ATTEMPTS:-60}
SLEEP=${SLEEP:-3}

retry() {
  what=$1; shift
  n=1
  until "$@"; do
    if [ "$n" -ge "$ATTEMPTS" ]; then
      echo "gave up: $what after $ATTEMPTS attempts" >&2
      exit 1
    fi
    echo "not yet: $what (attempt $n/$ATTEMPTS)"
    n=$((n + 1))
    sleep "$SLEEP"
  done
}

ns_exists() { temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; }
ns_ready() { ns_exists || temporal operator namespace create --namespace "$NAMESPACE" --retention 30d; }
sa_list() { temporal operator search-attribute list --namespace "$NAMESPACE"; }
sa_ready() {
  name=${1%%=*}; type=${1#*=}
  sa_list | grep -Eq "^[[:space:]]*$name[[:space:]]+$type([[:space:]]|\$)" ||
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type"
}

retry "cluster health" temporal operator cluster health
retry "namespace $NAMESPACE" ns_ready
retry "namespace $NAMESPACE visible" ns_exists
for sa in $SEARCH_ATTRIBUTES; do
  retry "search attribute $sa" sa_ready "$sa"
done

# Verify: every attribute listed with its type, or fail (and be restarted).
listing=$(sa_list)
for sa in $SEARCH_ATTRIBUTES; do
  name=${sa%%=*}; type=${sa#*=}
  if ! echo "$listing" | grep -Eq "^[[:space:]]*$name[[:space:]]+$type([[:space:]]|\$)"; then
    echo "search attribute $name ($type) is not registered on $NAMESPACE" >&2
    exit 1
  fi
done
echo "namespace $NAMESPACE ready with search attributes: $SEARCH_ATTRIBUTES"
