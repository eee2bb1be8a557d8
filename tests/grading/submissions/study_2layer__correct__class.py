"""The 004 notebook's class convention: the weights are attributes, the method returns a tuple."""
import numpy as np


class Neural_Network(object):
    def __init__(self, input_layer_size, output_layer_size, hidden_layer_size):
        self.W1 = np.random.randn(input_layer_size, hidden_layer_size)
        self.W2 = np.random.randn(hidden_layer_size, output_layer_size)

    def forward(self, X):
        self.z2 = X.dot(self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = self.a2.dot(self.W2)
        return self.sigmoid(self.z3)

    def cost_function_prime(self, X, y):
        y_hat = self.forward(X)
        delta1 = np.multiply(-(y - y_hat), self.sigmoid_prime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta1)
        delta2 = np.dot(delta1, self.W2.T) * self.sigmoid_prime(self.z2)
        dJdW1 = np.dot(X.T, delta2)
        return dJdW1, dJdW2

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))

    def sigmoid_prime(self, z):
        return np.exp(-z) / np.power(1 + np.exp(-z), 2)


x = np.array([[3, 5], [5, 1], [10, 2]])
y = np.array([[0.75], [0.82], [0.93]])
model = Neural_Network(2, 1, 3)
for i in range(100):
    w1_grad, w2_grad = model.cost_function_prime(x, y)
    model.W1 -= w1_grad
    model.W2 -= w2_grad
    print(f"epoch:{i}")
