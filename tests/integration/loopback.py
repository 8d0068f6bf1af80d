"""Helpers shared by the integration test scripts: loopback ports that stay free."""
import random
import socket


def free_ports(n, host="127.0.0.1"):
    """n distinct free TCP ports on host, picked below the kernel's ephemeral range: on a busy
    machine the outgoing connections of other programs cannot take them between this check and
    the bind by the process under test."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    ports = []
    while len(ports) < n:
        port = random.randrange(20000, min(ephemeral_low, 32768))
        if port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        ports.append(port)
    return ports
