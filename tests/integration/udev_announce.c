/* udev_announce.c - announce a device to systemd the way udevd does, for units_nspawn.py.
 *
 * In a container nothing runs udevd, so a .device unit never becomes active. After
 * udevd has run its rules on a new device it multicasts the device's properties on
 * NETLINK_KOBJECT_UEVENT group 2 ("udev") in a "libudev" framed message; systemd (PID 1)
 * listens there, for devices tagged "systemd", and marks the .device units of the sysfs
 * path and of DEVNAME active. This sends that one message, as udevd would after making
 * the node (the caller makes it, with the owner and mode udev's rules would give):
 *   udev_announce DEVPATH SUBSYSTEM DEVNAME MAJOR MINOR
 * It must run as root in the container's network namespace (a multicast send needs
 * CAP_NET_ADMIN there). Exit 0 sent, 1 error (message on stderr). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDEV_MONITOR_MAGIC 0xfeedcafeu
#define MONITOR_GROUP_UDEV 2u

/* The monitor header udevd puts before the properties (magic and filter hashes in
 * network order). */
struct monitor_header {
	char prefix[8];
	uint32_t magic;
	uint32_t header_size;
	uint32_t properties_off;
	uint32_t properties_len;
	uint32_t filter_subsystem_hash;
	uint32_t filter_devtype_hash;
	uint32_t filter_tag_bloom_hi;
	uint32_t filter_tag_bloom_lo;
};

/* Append "KEY=VALUE\0" to buf at *len; -1 when it does not fit. */
static int put(char *buf, size_t size, size_t *len, const char *key, const char *value)
{
	int n = snprintf(buf + *len, size - *len, "%s=%s", key, value);

	if (n < 0 || (size_t)n + 1 > size - *len)
		return -1;
	*len += (size_t)n + 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct monitor_header h = { .prefix = "libudev" };
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_groups = MONITOR_GROUP_UDEV };
	char props[1024];
	size_t len = 0;
	struct iovec iov[2];
	struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = iov, .msg_iovlen = 2 };
	int fd, bad = 0;

	if (argc != 6) {
		fprintf(stderr, "usage: udev_announce DEVPATH SUBSYSTEM DEVNAME MAJOR MINOR\n");
		return 1;
	}
	bad |= put(props, sizeof(props), &len, "ACTION", "add");
	bad |= put(props, sizeof(props), &len, "DEVPATH", argv[1]);
	bad |= put(props, sizeof(props), &len, "SUBSYSTEM", argv[2]);
	bad |= put(props, sizeof(props), &len, "DEVNAME", argv[3]);
	bad |= put(props, sizeof(props), &len, "MAJOR", argv[4]);
	bad |= put(props, sizeof(props), &len, "MINOR", argv[5]);
	bad |= put(props, sizeof(props), &len, "SEQNUM", "4242");
	bad |= put(props, sizeof(props), &len, "USEC_INITIALIZED", "1");
	bad |= put(props, sizeof(props), &len, "TAGS", ":systemd:");
	bad |= put(props, sizeof(props), &len, "CURRENT_TAGS", ":systemd:");
	if (bad) {
		fprintf(stderr, "udev_announce: properties too long\n");
		return 1;
	}
	h.magic = htonl(UDEV_MONITOR_MAGIC);
	h.header_size = sizeof(h);		/* these three in host order, as udevd sends them */
	h.properties_off = sizeof(h);
	h.properties_len = (uint32_t)len;
	/* Every bloom bit set: passes any tag filter (systemd filters on "systemd"). */
	h.filter_tag_bloom_hi = 0xffffffffu;
	h.filter_tag_bloom_lo = 0xffffffffu;
	iov[0] = (struct iovec){ &h, sizeof(h) };
	iov[1] = (struct iovec){ props, len };
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0 || sendmsg(fd, &msg, 0) < 0) {
		fprintf(stderr, "udev_announce: netlink uevent group %u: %s\n", MONITOR_GROUP_UDEV, strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}
