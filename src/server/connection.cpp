#include "ternion/server/connection.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

namespace ternion::server {

namespace {

// The address and port of a socket address (IPv4 or IPv6) as text and number.
bool address_of(const sockaddr_storage& ss, std::string& addr, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    sockaddr_in a;
    std::memcpy(&a, &ss, sizeof a);
    if (inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf) == nullptr) return false;
    port = ntohs(a.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    sockaddr_in6 a;
    std::memcpy(&a, &ss, sizeof a);
    if (inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf) == nullptr) return false;
    port = ntohs(a.sin6_port);
  } else {
    return false;
  }
  addr = buf;
  return true;
}

}  // namespace

int find_connection_socket(const std::string& remote_addr, int remote_port, int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const int fd = std::atoi(e->d_name);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    std::string paddr, laddr;
    int pport = -1, lport = -1;
    if (!address_of(peer, paddr, pport) || !address_of(local, laddr, lport)) continue;
    if (pport == remote_port && lport == local_port && paddr == remote_addr) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

bool peer_closed(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0) return true;
  if ((p.revents & POLLIN) != 0) {
    char c;
    // Data waiting is a pipelined request (the peer is alive); zero bytes is an orderly close.
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  return false;
}

}  // namespace ternion::server
