#!/bin/sh
# /init of the study's microVM (ktrace study, platform qemu), run by the kernel as pid 1 from
# the initramfs: mount the kernel file systems, load the virtio modules, mount the benchmark
# disk on /bench, run the run's script between two marker lines on the serial console that
# ktrace reads, and power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in $(cat /etc/ktrace-study/modules); do
    insmod "/lib/modules/$module.ko" || echo "ktrace-study: insmod $module failed"
done
[ -b /dev/vda ] && mount -t ext4 /dev/vda /bench
ip link set lo up
echo "KTRACE-STUDY-BEGIN"
sh /etc/ktrace-study/run.sh
code=$?
echo "KTRACE-STUDY-END $code"
umount /bench 2>/dev/null
sync
reboot -f
