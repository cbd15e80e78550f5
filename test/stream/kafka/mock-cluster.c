/*
 * A Kafka-protocol cluster for the Kafka tests: librdkafka's mock cluster (Debian package
 * librdkafka-dev), which speaks the Kafka wire protocol on real TCP listeners, with produce,
 * fetch, offsets, consumer groups (join, sync, heartbeat, leave) and offset commits. It does
 * not implement the admin API's CreateTopics, so topics are created through this program.
 *
 * Usage: mock-cluster <brokers>
 *   prints "bootstrap <host:port,...>" once listening, then reads commands from stdin, one per
 *   line, and answers each with "ok" or "error <reason>":
 *     topic <name> <partitions>   create a topic
 *     down <broker id>            the broker stops answering (ids are 1..brokers)
 *     up <broker id>              and comes back
 *     fail <api key> <count> <error code>
 *                                 the next <count> requests of that API (e.g. 14, SyncGroup)
 *                                 are answered with that error (e.g. 42, INVALID_REQUEST)
 *   End of input shuts the cluster down.
 *
 * Built by test/stream/kafka/mock-cluster.ts: cc -o <binary> mock-cluster.c -lrdkafka
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reply(rd_kafka_resp_err_t err) {
  if (err)
    printf("error %s\n", rd_kafka_err2str(err));
  else
    printf("ok\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  int brokers = argc > 1 ? atoi(argv[1]) : 1;
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The handle only hosts the cluster; keep it quiet. */
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(rk, brokers < 1 ? 1 : brokers);
  if (!cluster) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  fflush(stdout);

  char line[1024];
  while (fgets(line, sizeof(line), stdin)) {
    char name[512];
    int number, count, code;
    if (sscanf(line, "topic %511s %d", name, &number) == 2)
      reply(rd_kafka_mock_topic_create(cluster, name, number, 1));
    else if (sscanf(line, "down %d", &number) == 1)
      reply(rd_kafka_mock_broker_set_down(cluster, number));
    else if (sscanf(line, "up %d", &number) == 1)
      reply(rd_kafka_mock_broker_set_up(cluster, number));
    else if (sscanf(line, "fail %d %d %d", &number, &count, &code) == 3 && count > 0 &&
             count <= 64) {
      rd_kafka_resp_err_t errors[64];
      for (int i = 0; i < count; i++) errors[i] = (rd_kafka_resp_err_t)code;
      rd_kafka_mock_push_request_errors_array(cluster, (int16_t)number, (size_t)count, errors);
      reply(RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    else {
      printf("error unknown command\n");
      fflush(stdout);
    }
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
