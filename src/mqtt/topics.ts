// The MQTT front door's topic templates: a module of their own, so that reading the serve options
// (which checks them) does not load the front door, MQTT.js's wrapper and its metrics.

export interface MqttTopics {
  /** Templates; {model} is replaced by the model's name. */
  request: string;
  predictions: string;
  errors: string;
}

export const DEFAULT_TOPICS: MqttTopics = {
  request: 'modelserve/{model}/predict',
  predictions: 'modelserve/{model}/predictions',
  errors: 'modelserve/{model}/errors',
};

/**
 * Why a configured topic cannot be one (undefined: it can). `$share/<group>/<filter>` subscribes to
 * <filter>, whose messages arrive under their own topic: a request topic written so was subscribed
 * and counted ready, and every request on it went unanswered without a word (the broker refuses
 * answers published there as not authorised).
 */
export function sharedTopicProblem(topic: string): string | undefined {
  return topic.startsWith('$share/') ? `'${topic}' starts with $share/, which names a shared subscription, not a topic: give the plain topic (and --mqtt-group NAME for replicas to share it)` : undefined;
}

/**
 * Why a --mqtt-group name cannot be one (undefined: it can). A share name holds no '/', '+' or '#'
 * (MQTT 5, 4.8.2): with a '/', $share/a/b/<topic> is group 'a' subscribed to 'b/<topic>', ready and
 * never answering; with a wildcard the broker refuses the subscription.
 */
export function groupProblem(group: string): string | undefined {
  return /[/+#]/.test(group) ? `'${group}' holds a '/', '+' or '#', which a shared-subscription group name may not (MQTT 5): give a plain name such as 'modelserve'` : undefined;
}
