#!/bin/sh
# The proving ground's containment hook: keeps the event corral hands it (JSON on stdin, the
# same in CORRAL_* variables) and when it came, for scenario.sh to check.
cat >/tmp/hook-event.json
echo "$CORRAL_EVENT $CORRAL_SUBJECT $(cut -d' ' -f1 /proc/uptime)" >>/tmp/hook-runs
