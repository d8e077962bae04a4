/*
 * notify-listen: systemd's side of sd_notify(3) for the proving ground's guest (which has no
 * systemd). Binds an AF_UNIX datagram socket at PATH and prints every message it receives, one
 * line per message (newlines inside a message become spaces), each prefixed with the guest's
 * uptime, until killed.
 *
 *   notify-listen PATH
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2 || strlen(argv[1]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "usage: notify-listen PATH\n");
        return 1;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strcpy(address.sun_path, argv[1]);
    unlink(argv[1]);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        perror("notify-listen");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char message[4096];
    for (;;) {
        ssize_t count = recv(fd, message, sizeof(message) - 1, 0);
        if (count < 0) continue;
        message[count] = 0;
        for (ssize_t i = 0; i < count; i++)
            if (message[i] == '\n') message[i] = ' ';
        char uptime[64] = "?";
        FILE *file = fopen("/proc/uptime", "r");
        if (file) {
            if (fscanf(file, "%63s", uptime) != 1) strcpy(uptime, "?");
            fclose(file);
        }
        printf("%s %s\n", uptime, message);
    }
}
