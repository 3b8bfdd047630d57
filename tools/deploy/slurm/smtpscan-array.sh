#!/bin/bash
# smtpscan as a Slurm job array: array task I scans shard I of N of one
# input, N being the number of tasks in the array (--shard auto reads
# SLURM_ARRAY_TASK_ID, _MIN, _MAX, _COUNT and _STEP). Each task writes its
# own file on the shared file system:
#
#   $SMTPSCAN_OUT/shard-<task id>-of-<N>.ndjson.zst   (records)
#   $SMTPSCAN_OUT/shard-<task id>-of-<N>.<UTC time>.meta.json
#                                           (metadata, one per attempt)
#
# with the numbers as five digits. A task that finds its file already there
# (it was interrupted, hit its time limit, or was requeued) resumes it.
# See tools/deploy/README.md.
#
#   SMTPSCAN_EHLO_NAME=scanner.example.org sbatch tools/deploy/slurm/smtpscan-array.sh
#   SMTPSCAN_EHLO_NAME=... sbatch --array=0-31%8 --job-name=run2 tools/deploy/slurm/smtpscan-array.sh
#
# Submit with ids 0..N-1 (a --array given on the command line overrides the
# one below); `%K` runs at most K tasks at once. Settings, from the
# environment sbatch passes on:
#
#   SMTPSCAN_EHLO_NAME  required: a host name you control (EHLO/HELO)
#   SMTPSCAN_INPUT      the targets (default: targets.txt where you submit)
#   SMTPSCAN_OUT        the results directory (default: results/<job name>
#                       where you submit, so a new run wants a new
#                       --job-name and a resubmission resumes)
#   SMTPSCAN_BIN        the binary (default: build/smtpscan where you
#                       submit if it is there, as tools/bootstrap builds it,
#                       else smtpscan from PATH)
#   SMTPSCAN_ARGS       further options, split at spaces (default below)
#   SMTPSCAN_SHARDS     only to rerun some tasks of a run of N shards:
#                       SMTPSCAN_SHARDS=N sbatch --array=3,5 ... scans shards
#                       3 and 5 of N (--shard I/N instead of auto, since
#                       such an array has only 2 tasks; the task id is the
#                       shard index, so the run's array must start at 0)
#
#SBATCH --job-name=smtpscan
#SBATCH --array=0-7
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=1-00:00:00
#SBATCH --output=smtpscan-%A_%a.log
#SBATCH --open-mode=append
# SIGTERM to smtpscan (the batch shell, through exec) 5 minutes before the
# time limit: it stops taking targets, finishes the conversations in flight
# within --grace-time, writes every record and exits; a resubmission resumes.
#SBATCH --signal=B:TERM@300
# A task lost with its node is queued again, and resumes.
#SBATCH --requeue
set -euo pipefail

submit_dir=${SLURM_SUBMIT_DIR:-$PWD}
if [[ -z ${SLURM_ARRAY_TASK_ID:-} ]]; then
  echo "smtpscan-array: not a Slurm array task; submit with sbatch --array=0-N" >&2
  exit 2
fi
if [[ -z ${SMTPSCAN_EHLO_NAME:-} ]]; then
  echo "smtpscan-array: set SMTPSCAN_EHLO_NAME to a host name you control" >&2
  exit 2
fi
input=${SMTPSCAN_INPUT:-$submit_dir/targets.txt}
out=${SMTPSCAN_OUT:-$submit_dir/results/${SLURM_JOB_NAME:-smtpscan}}
bin=${SMTPSCAN_BIN:-}
if [[ -z $bin ]]; then
  if [[ -x $submit_dir/build/smtpscan ]]; then
    bin=$submit_dir/build/smtpscan
  else
    bin=smtpscan
  fi
fi
# --rate is per task: the whole scan opens up to (tasks running) x rate
# connections per second. --threads matches --cpus-per-task.
read -r -a args <<<"${SMTPSCAN_ARGS:---rate 50 --concurrency 500 --threads ${SLURM_CPUS_PER_TASK:-2} --ports 25}"

if [[ -n ${SMTPSCAN_SHARDS:-} ]]; then
  shard="$SLURM_ARRAY_TASK_ID/$SMTPSCAN_SHARDS"
  count=$SMTPSCAN_SHARDS
else
  shard=auto
  count=${SLURM_ARRAY_TASK_COUNT:?}
fi
if [[ ! -r $input ]]; then
  echo "smtpscan-array: cannot read the input $input (set SMTPSCAN_INPUT)" >&2
  exit 2
fi
name=$(printf '%s/shard-%05d-of-%05d' "$out" "$SLURM_ARRAY_TASK_ID" "$count")
mkdir -p "$out"
# Files of this run with another shard count would overlap these shards
# (a subset resubmitted without SMTPSCAN_SHARDS counts as an array of its
# own): refuse rather than mix them.
shopt -s nullglob
for f in "$out"/shard-*-of-*.ndjson.zst; do
  if [[ $f != *-of-$(printf '%05d' "$count").ndjson.zst ]]; then
    echo "smtpscan-array: $f has another shard count than $count; to rerun some tasks of that run, set SMTPSCAN_SHARDS" >&2
    exit 2
  fi
done
resume=()
if [[ -s $name.ndjson.zst ]]; then
  resume=(--resume)
fi
echo "smtpscan-array: task $SLURM_ARRAY_TASK_ID, --shard $shard, output $name.ndjson.zst${resume:+ (resumed)}" >&2
meta="$name.$(date -u +%Y%m%dT%H%M%SZ).meta.json"
exec "$bin" --shard "$shard" -i "$input" -o "$name.ndjson.zst" -m "$meta" \
  --ehlo-name "$SMTPSCAN_EHLO_NAME" "${args[@]}" "${resume[@]}"
