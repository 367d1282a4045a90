"""Ask: answers to students' questions from the course guide and their own material, with the passages,
their scores, and the study that shows the answer."""
