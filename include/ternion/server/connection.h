// Noticing a client that went away while its request waits or generates. The HTTP library does not expose the
// connection's socket to handlers, so it is found by its addresses among this process's descriptors.
#pragma once

#include <string>

namespace ternion::server {

// The descriptor of the TCP connection from remote_addr:remote_port to local port `local_port`; -1 when none.
int find_connection_socket(const std::string& remote_addr, int remote_port, int local_port);

// True when the peer has closed the connection (or it failed); never blocks.
bool peer_closed(int fd);

}  // namespace ternion::server
