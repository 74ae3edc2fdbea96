#!/usr/bin/env bash
# A real single-node Slurm on this machine (Debian's slurm-wlm: munge, slurmctld, slurmd on
# localhost), for the test that runs a sweep through it. Needs root. Installs the packages when
# they are missing, writes /etc/slurm/slurm.conf for this machine's cores and memory, and starts
# the three daemons; running it again restarts them. Check with: sinfo; srun hostname
set -euo pipefail
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null
fi
node=$(hostname -s)
grep -q "[[:space:]]$node\b" /etc/hosts || echo "127.0.0.1 $node" >> /etc/hosts
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /etc/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=scalelaw
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
# a requeued job may start again once its old credential expires (default 120 s): short here
AuthInfo=cred_expire=20
# SIGKILL 5 s after a cancelled or timed-out job's SIGTERM (default 30 s)
KillWait=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pkill -x slurmd || true; pkill -x slurmctld || true; pkill -x munged || true
sleep 1
if id munge >/dev/null 2>&1; then su -s /bin/sh munge -c "munged --force" ; else munged --force; fi
slurmctld
slurmd
for _ in $(seq 1 30); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE 'idle|mixed|alloc'; then
        echo "slurm-local: node $node up ($cpus CPUs, ${mem} MB)"
        exit 0
    fi
    sleep 1
done
echo "slurm-local: the node did not come up; see /var/log/slurm/" >&2
exit 1
