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
