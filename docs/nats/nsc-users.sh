#!/bin/sh
# folio's NATS users for a decentralised (JWT) deployment made with nsc: one
# user per role in the account FOLIO, each allowed only what its folio
# processes need (docs/SECURITY.md).
#
# Generated from queue.RolePermissions: do not edit by hand; after a change
# there, run: go test ./queue -run TestExampleServerConfig -update
#
# Then: nsc generate creds -a FOLIO -n folio-worker > worker.creds, and
# folio worker --nats-creds worker.creds (likewise api and submitter).
set -eu
ACCOUNT=${ACCOUNT:-FOLIO}
nsc describe account "$ACCOUNT" >/dev/null 2>&1 || nsc add account "$ACCOUNT"
nsc edit account "$ACCOUNT" --js-disk-storage -1 --js-mem-storage -1

# worker: sets up the streams and buckets, consumes jobs, writes Binaries, records, indexes, statuses and events
nsc add user -a "$ACCOUNT" -n folio-worker \
  --allow-pub '$JS.API.STREAM.CREATE.FOLIO_JOBS,$JS.API.STREAM.UPDATE.FOLIO_JOBS,$JS.API.STREAM.CREATE.FOLIO_EVENTS,$JS.API.STREAM.UPDATE.FOLIO_EVENTS,$JS.API.STREAM.CREATE.KV_folio-jobs,$JS.API.STREAM.UPDATE.KV_folio-jobs,$JS.API.STREAM.CREATE.KV_folio-records,$JS.API.STREAM.UPDATE.KV_folio-records,$JS.API.STREAM.CREATE.KV_folio-index,$JS.API.STREAM.UPDATE.KV_folio-index,$JS.API.STREAM.CREATE.OBJ_folio-binaries,$JS.API.STREAM.UPDATE.OBJ_folio-binaries,$JS.API.STREAM.INFO.KV_folio-jobs,$JS.API.DIRECT.GET.KV_folio-jobs,$JS.API.DIRECT.GET.KV_folio-jobs.>,$JS.API.STREAM.INFO.KV_folio-records,$JS.API.DIRECT.GET.KV_folio-records,$JS.API.DIRECT.GET.KV_folio-records.>,$JS.API.STREAM.INFO.KV_folio-index,$JS.API.DIRECT.GET.KV_folio-index,$JS.API.DIRECT.GET.KV_folio-index.>,$JS.API.STREAM.INFO.OBJ_folio-binaries,$JS.API.DIRECT.GET.OBJ_folio-binaries,$JS.API.DIRECT.GET.OBJ_folio-binaries.>,$JS.API.CONSUMER.CREATE.KV_folio-index.>,$JS.API.CONSUMER.DELETE.KV_folio-index.>,$JS.FC.KV_folio-index.>,$JS.API.CONSUMER.CREATE.OBJ_folio-binaries.>,$JS.API.CONSUMER.DELETE.OBJ_folio-binaries.>,$JS.FC.OBJ_folio-binaries.>,$JS.API.INFO,$JS.API.STREAM.INFO.FOLIO_JOBS,$JS.API.STREAM.INFO.FOLIO_EVENTS,$JS.API.CONSUMER.CREATE.FOLIO_JOBS.render,$JS.API.CONSUMER.INFO.FOLIO_JOBS.render,$JS.API.CONSUMER.MSG.NEXT.FOLIO_JOBS.render,$JS.ACK.FOLIO_JOBS.render.>,$JS.API.STREAM.MSG.GET.FOLIO_JOBS,$JS.API.STREAM.MSG.DELETE.FOLIO_JOBS,$JS.API.STREAM.PURGE.OBJ_folio-binaries,$JS.API.STREAM.PURGE.KV_folio-index,$KV.folio-jobs.>,$KV.folio-records.>,$KV.folio-index.>,$O.folio-binaries.>,folio.events.job.>' \
  --allow-sub '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.FOLIO_JOBS.render,folio.events.job.>,_INBOX_folio_worker.>'

# api: reads records, indexes and Binaries, nothing else
nsc add user -a "$ACCOUNT" -n folio-api \
  --allow-pub '$JS.API.STREAM.INFO.KV_folio-records,$JS.API.DIRECT.GET.KV_folio-records,$JS.API.DIRECT.GET.KV_folio-records.>,$JS.API.STREAM.INFO.KV_folio-index,$JS.API.DIRECT.GET.KV_folio-index,$JS.API.DIRECT.GET.KV_folio-index.>,$JS.API.STREAM.INFO.OBJ_folio-binaries,$JS.API.DIRECT.GET.OBJ_folio-binaries,$JS.API.DIRECT.GET.OBJ_folio-binaries.>,$JS.API.CONSUMER.CREATE.KV_folio-index.>,$JS.API.CONSUMER.DELETE.KV_folio-index.>,$JS.FC.KV_folio-index.>,$JS.API.CONSUMER.CREATE.OBJ_folio-binaries.>,$JS.API.CONSUMER.DELETE.OBJ_folio-binaries.>,$JS.FC.OBJ_folio-binaries.>' \
  --allow-sub '_INBOX_folio_api.>'

# submitter: publishes render jobs, reads job statuses and job events, nothing else
nsc add user -a "$ACCOUNT" -n folio-submitter \
  --allow-pub 'folio.jobs.render,$JS.API.STREAM.INFO.KV_folio-jobs,$JS.API.DIRECT.GET.KV_folio-jobs,$JS.API.DIRECT.GET.KV_folio-jobs.>,$JS.API.STREAM.INFO.KV_folio-index,$JS.API.DIRECT.GET.KV_folio-index.$KV.folio-index.content.>,$KV.folio-index.content.>' \
  --allow-sub 'folio.events.job.>,_INBOX_folio_submitter.>'
