#!/bin/sh
# Makes the workers' Worker Deployment version current (docs/operations.md,
# "Rolling out a new build"): waits until the server has registered
# CERTFLOW_DEPLOYMENT_NAME/CERTFLOW_BUILD_ID (its workers polled the
# certflow task queue), then sets it current. New refunds then start on
# that build; refunds pinned to an earlier build finish there. Runs in
# temporalio/admin-tools, after the workers are healthy; deploy's test runs
# it against a dev server with a versioned worker.
set -eu
: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
: "${NAMESPACE:?NAMESPACE is required}"
: "${CERTFLOW_DEPLOYMENT_NAME:?CERTFLOW_DEPLOYMENT_NAME is required}"
: "${CERTFLOW_BUILD_ID:?CERTFLOW_BUILD_ID is required}"
TASK_QUEUE=${TASK_QUEUE:-certflow}
ATTEMPTS=${ATTEMPTS:-60}
SLEEP=${SLEEP:-3}

version() {
  temporal worker deployment describe-version --namespace "$NAMESPACE" \
    --deployment-name "$CERTFLOW_DEPLOYMENT_NAME" --build-id "$CERTFLOW_BUILD_ID" "$@"
}
registered() { version -o json 2>/dev/null | grep -q "\"$TASK_QUEUE\""; }
set_current() {
  temporal worker deployment set-current-version --namespace "$NAMESPACE" \
    --deployment-name "$CERTFLOW_DEPLOYMENT_NAME" --build-id "$CERTFLOW_BUILD_ID" --yes
}

n=1
until registered; do
  if [ "$n" -ge "$ATTEMPTS" ]; then
    echo "gave up: version $CERTFLOW_DEPLOYMENT_NAME/$CERTFLOW_BUILD_ID has no workers polling $TASK_QUEUE after $ATTEMPTS attempts" >&2
    exit 1
  fi
  echo "not yet: version $CERTFLOW_DEPLOYMENT_NAME/$CERTFLOW_BUILD_ID polled (attempt $n/$ATTEMPTS)"
  n=$((n + 1))
  sleep "$SLEEP"
done
# The deployment itself can lag its version's registration a moment
# ("Worker Deployment not found"): asked again, as above.
until set_current; do
  if [ "$n" -ge "$ATTEMPTS" ]; then
    echo "gave up: version $CERTFLOW_DEPLOYMENT_NAME/$CERTFLOW_BUILD_ID could not be made current after $ATTEMPTS attempts" >&2
    exit 1
  fi
  echo "not yet: deployment $CERTFLOW_DEPLOYMENT_NAME ready for its current version (attempt $n/$ATTEMPTS)"
  n=$((n + 1))
  sleep "$SLEEP"
done
version
echo "version $CERTFLOW_DEPLOYMENT_NAME/$CERTFLOW_BUILD_ID is current"
